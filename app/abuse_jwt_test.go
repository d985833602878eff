package app_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/example/authapi/app/apptest"
	"github.com/example/authapi/models"
)

// forged describes a token to mint: its claims, extra header fields, and how it is signed.
type forged struct {
	claims jwt.MapClaims
	header map[string]any
	method jwt.SigningMethod
	key    any
}

func (f forged) sign(t *testing.T) string {
	t.Helper()
	tok := jwt.NewWithClaims(f.method, f.claims)
	for k, v := range f.header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(f.key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

// validClaims are the claims of a well-formed token for userID whose jti is whitelisted.
func (e *env) validClaims(t *testing.T, userID string) jwt.MapClaims {
	t.Helper()
	now := time.Now()
	jti := uuid.NewString()
	exp := now.Add(time.Hour)
	sid := uuid.New()
	if err := e.tokens.Allow(context.Background(), uuid.MustParse(userID), sid, jti, models.RoleUser, exp, exp); err != nil {
		t.Fatal(err)
	}
	return jwt.MapClaims{"sub": userID, "iss": "auth-api", "iat": now.Unix(), "nbf": now.Unix(), "exp": exp.Unix(), "jti": jti, "role": "user", "sid": sid.String()}
}

func with(c jwt.MapClaims, key string, value any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for k, v := range c {
		out[k] = v
	}
	if value == nil {
		delete(out, key)
	} else {
		out[key] = value
	}
	return out
}

// TestJWTAttacks sends each attack of RFC 8725 and the contract to GET /auth/me: every one is a
// 401 with WWW-Authenticate, while the same token without the attack is a 200 (so each case
// fails for its attack, not for some other defect of the test token).
func TestJWTAttacks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	email, realToken := e.newUser()
	userID := decodeClaims(t, realToken)["sub"].(string)
	secret := []byte(apptest.Secret)
	hs256 := func(c jwt.MapClaims) forged { return forged{claims: c, method: jwt.SigningMethodHS256, key: secret} }
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()

	get := func(header map[string]string, path string) apptest.Response {
		return e.client.Do(apptest.Request{Method: http.MethodGet, Path: path, Header: header})
	}
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

	t.Run("OKControl", func(t *testing.T) {
		for name, tok := range map[string]string{
			"login token":         realToken,
			"minted token":        hs256(e.validClaims(t, userID)).sign(t),
			"nbf within leeway":   hs256(with(e.validClaims(t, userID), "nbf", now.Add(2*time.Second).Unix())).sign(t),
			"kid header ignored":  forged{e.validClaims(t, userID), map[string]any{"kid": "../../etc/passwd"}, jwt.SigningMethodHS256, secret}.sign(t),
			"jku and jwk ignored": forged{e.validClaims(t, userID), map[string]any{"jku": "https://evil.example/jwks", "jwk": map[string]any{"kty": "oct", "k": "YQ"}}, jwt.SigningMethodHS256, secret}.sign(t),
		} {
			if resp := get(bearer(tok), "/auth/me"); resp.Status != http.StatusOK {
				t.Fatalf("%s: %d %s", name, resp.Status, resp.Body)
			}
		}
	})

	// tampered keeps the signature of a valid token but raises its role.
	tampered := func() string {
		parts := strings.Split(hs256(e.validClaims(t, userID)).sign(t), ".")
		var claims map[string]any
		raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
		_ = json.Unmarshal(raw, &claims)
		claims["role"] = "admin"
		raw, _ = json.Marshal(claims)
		parts[1] = base64.RawURLEncoding.EncodeToString(raw)
		return strings.Join(parts, ".")
	}
	// attackerKey is a symmetric key the attacker controls, offered through jwk or jku.
	attackerKey := []byte("attacker-chosen-key-0123456789-abcdef")
	_, otherToken := e.newUser()
	otherID := decodeClaims(t, otherToken)["sub"].(string)
	deletedUserToken := func() string {
		email, tok := e.newUser()
		if _, err := e.db.NewDelete().TableExpr("users").Where("email = ?", email).Exec(context.Background()); err != nil {
			t.Fatal(err)
		}
		return tok
	}
	revoked := func() string {
		c := e.validClaims(t, userID)
		if err := e.tokens.Drop(context.Background(), []uuid.UUID{uuid.MustParse(c["sid"].(string))}); err != nil {
			t.Fatal(err)
		}
		return hs256(c).sign(t)
	}

	cases := []struct {
		name   string
		header map[string]string
		path   string
	}{
		{"ErrMissingHeader", nil, ""},
		{"ErrEmptyBearer", map[string]string{"Authorization": "Bearer "}, ""},
		{"ErrBasicScheme", map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(email+":"+goodPassword))}, ""},
		{"ErrTokenScheme", map[string]string{"Authorization": "Token " + realToken}, ""},
		{"ErrNoScheme", map[string]string{"Authorization": realToken}, ""},
		{"ErrGarbage", bearer("garbage"), ""},
		{"ErrGarbageThreeParts", bearer("a.b.c"), ""},
		{"ErrAlgNone", bearer(forged{e.validClaims(t, userID), nil, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType}.sign(t)), ""},
		{"ErrAlgNoneStripped", bearer(strings.Join(strings.Split(realToken, ".")[:2], ".") + "."), ""},
		{"ErrHS384", bearer(forged{e.validClaims(t, userID), nil, jwt.SigningMethodHS384, secret}.sign(t)), ""},
		{"ErrHS512", bearer(forged{e.validClaims(t, userID), nil, jwt.SigningMethodHS512, secret}.sign(t)), ""},
		{"ErrRS256", bearer(forged{e.validClaims(t, userID), nil, jwt.SigningMethodRS256, rsaKey}.sign(t)), ""},
		{"ErrWrongSecret", bearer(forged{e.validClaims(t, userID), nil, jwt.SigningMethodHS256, []byte("another-secret-0123456789-abcdefghij")}.sign(t)), ""},
		{"ErrTamperedPayload", bearer(tampered()), ""},
		{"ErrMissingExp", bearer(hs256(with(e.validClaims(t, userID), "exp", nil)).sign(t)), ""},
		{"ErrMissingSub", bearer(hs256(with(e.validClaims(t, userID), "sub", nil)).sign(t)), ""},
		{"ErrMissingJti", bearer(hs256(with(e.validClaims(t, userID), "jti", nil)).sign(t)), ""},
		{"ErrMissingIss", bearer(hs256(with(e.validClaims(t, userID), "iss", nil)).sign(t)), ""},
		{"ErrWrongIss", bearer(hs256(with(e.validClaims(t, userID), "iss", "someone-else")).sign(t)), ""},
		{"ErrExpiredBeyondLeeway", bearer(hs256(with(e.validClaims(t, userID), "exp", now.Add(-time.Minute).Unix())).sign(t)), ""},
		{"ErrNbfInFuture", bearer(hs256(with(e.validClaims(t, userID), "nbf", now.Add(5*time.Minute).Unix())).sign(t)), ""},
		{"ErrSubNotUserID", bearer(hs256(with(e.validClaims(t, userID), "sub", "admin")).sign(t)), ""},
		{"ErrJtiNotWhitelisted", bearer(hs256(with(e.validClaims(t, userID), "jti", uuid.NewString())).sign(t)), ""},
		{"ErrRevokedJti", bearer(revoked()), ""},
		// With the signing secret known (a leaked or published one), a whitelisted jti still
		// cannot carry another role or another user: the whitelist binds both.
		{"ErrRoleRaisedWithSecret", bearer(hs256(with(e.validClaims(t, userID), "role", "admin")).sign(t)), "/users/stats"},
		{"ErrJtiOfAnotherUser", bearer(hs256(with(e.validClaims(t, userID), "sub", otherID)).sign(t)), ""},
		{"ErrMissingSid", bearer(hs256(with(e.validClaims(t, userID), "sid", nil)).sign(t)), ""},
		{"ErrSidNotUUID", bearer(hs256(with(e.validClaims(t, userID), "sid", "../x")).sign(t)), ""},
		{"ErrJtiMovedToAnotherSession", bearer(hs256(with(e.validClaims(t, userID), "sid", e.validClaims(t, userID)["sid"])).sign(t)), ""},
		{"ErrDeletedUser", bearer(deletedUserToken()), ""},
		{"ErrQueryStringOnly", nil, "/auth/me?token=" + realToken + "&access_token=" + realToken + "&jwt=" + realToken},
		{"ErrKidChoosesKey", bearer(forged{e.validClaims(t, userID), map[string]any{"kid": "attacker"}, jwt.SigningMethodHS256, attackerKey}.sign(t)), ""},
		{"ErrJwkEmbedsKey", bearer(forged{e.validClaims(t, userID), map[string]any{"jwk": map[string]any{"kty": "oct", "k": base64.RawURLEncoding.EncodeToString(attackerKey)}}, jwt.SigningMethodHS256, attackerKey}.sign(t)), ""},
		{"ErrJkuPointsToKey", bearer(forged{e.validClaims(t, userID), map[string]any{"jku": "https://evil.example/jwks.json", "kid": "k1"}, jwt.SigningMethodHS256, attackerKey}.sign(t)), ""},
		{"ErrX5uPointsToKey", bearer(forged{e.validClaims(t, userID), map[string]any{"x5u": "https://evil.example/cert.pem"}, jwt.SigningMethodRS256, rsaKey}.sign(t)), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if path == "" {
				path = "/auth/me"
			}
			resp := get(tc.header, path)
			if msg := wantError(t, resp, http.StatusUnauthorized, "unauthorized"); !strings.HasPrefix(msg, "unauthorized: ") {
				t.Fatalf("error = %q", msg)
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != "Bearer" {
				t.Fatalf("WWW-Authenticate = %q", got)
			}
		})
	}
}
