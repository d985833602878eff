package app_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/example/authapi/app/apptest"
	"github.com/example/authapi/models"
)

// newSigningKey returns a fresh Ed25519 key with its kid.
func newSigningKey(t *testing.T) models.SigningKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return models.NewSigningKey(priv)
}

// keysFile writes keys as PKCS#8 PEM blocks, in order, to a file of the test's.
func keysFile(t *testing.T, keys ...models.SigningKey) string {
	t.Helper()
	var b strings.Builder
	for _, k := range keys {
		der, err := x509.MarshalPKCS8PrivateKey(k.Private)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	}
	path := filepath.Join(t.TempDir(), "keys.pem")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// eddsa is the configuration of JWT_ALG=EdDSA with keys (the first signs).
func eddsa(t *testing.T, keys ...models.SigningKey) map[string]string {
	return map[string]string{"JWT_ALG": "EdDSA", "JWT_SIGNING_KEYS_FILE": keysFile(t, keys...)}
}

// rawToken builds header.payload.signature by hand, so that any header (an alg no library
// would write, a kid of any type) can be sent; sign gets the signing input.
func rawToken(t *testing.T, header, claims map[string]any, sign func(input []byte) []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	return input + "." + base64.RawURLEncoding.EncodeToString(sign([]byte(input)))
}

// truncated drops the last two characters of the token's signature (63 of its 64 bytes remain).
func truncated(token string) string { return token[:len(token)-2] }

func edSigner(k models.SigningKey) func([]byte) []byte {
	return func(input []byte) []byte { return ed25519.Sign(k.Private, input) }
}

func decodeHeader(t *testing.T, token string) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestEdDSATokens: under JWT_ALG=EdDSA login signs with the first key and names its kid; a
// token verifies only as EdDSA with the configured key its kid names (the second key too); every
// attack on the algorithm or the key (key confusion, alg variants, unknown or missing kid, a key
// offered in jwk/jku/x5u) is a 401; and an EdDSA token means nothing to an HS256 service.
func TestEdDSATokens(t *testing.T) {
	t.Parallel()
	signer, verifier, stranger := newSigningKey(t), newSigningKey(t), newSigningKey(t)
	e := newEnv(t, eddsa(t, signer, verifier))
	_, loginToken := e.newUser()
	userID := decodeClaims(t, loginToken)["sub"].(string)

	if h := decodeHeader(t, loginToken); h["alg"] != "EdDSA" || h["kid"] != signer.Kid || h["typ"] != "JWT" {
		t.Fatalf("login token header %v, want EdDSA with kid %s", h, signer.Kid)
	}
	me := func(token string) apptest.Response {
		return e.client.Get("/auth/me", token)
	}
	ed := func(k models.SigningKey, header map[string]any) string {
		h := map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": k.Kid}
		for name, v := range header {
			if v == nil {
				delete(h, name)
			} else {
				h[name] = v
			}
		}
		return rawToken(t, h, e.validClaims(t, userID), edSigner(k))
	}
	hs := func(key []byte, header map[string]any) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, e.validClaims(t, userID))
		for name, v := range header {
			tok.Header[name] = v
		}
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	pubDER, err := x509.MarshalPKIXPublicKey(signer.Public)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	strangerJWK := stranger.JWK()

	t.Run("OK", func(t *testing.T) {
		for name, tok := range map[string]string{
			"login token":                loginToken,
			"minted, first key":          ed(signer, nil),
			"minted, second key":         ed(verifier, nil),
			"jku, x5u and jwk ignored":   ed(signer, map[string]any{"jku": "https://evil.example/jwks", "x5u": "https://evil.example/x5", "jwk": strangerJWK}),
			"typ absent (not required)":  ed(signer, map[string]any{"typ": nil}),
			"crit-free extra header ok":  ed(signer, map[string]any{"cty": "JWT+x"}),
			"kid of the first, via JWKS": ed(signer, map[string]any{"kid": signer.JWK().Kid}),
		} {
			if resp := me(tok); resp.Status != http.StatusOK {
				t.Fatalf("%s: %d %s", name, resp.Status, resp.Body)
			}
		}
	})

	attacks := map[string]string{
		// Key confusion: HS256 "signed" with the public key, in every form a verifier might hold it.
		"HS256 with the public key's bytes":   hs(signer.Public, map[string]any{"kid": signer.Kid}),
		"HS256 with the public key's PEM":     hs(pubPEM, map[string]any{"kid": signer.Kid}),
		"HS256 with the public key's x":       hs([]byte(signer.JWK().X), map[string]any{"kid": signer.Kid}),
		"HS256 with the public key, no kid":   hs(signer.Public, nil),
		"HS256 with JWT_SECRET":               hs([]byte(apptest.Secret), nil),
		"HS256 with JWT_SECRET and a kid":     hs([]byte(apptest.Secret), map[string]any{"kid": signer.Kid}),
		"alg none":                            rawToken(t, map[string]any{"alg": "none", "kid": signer.Kid}, e.validClaims(t, userID), func([]byte) []byte { return nil }),
		"alg Ed25519":                         ed(signer, map[string]any{"alg": "Ed25519"}),
		"alg eddsa":                           ed(signer, map[string]any{"alg": "eddsa"}),
		"alg EDDSA":                           ed(signer, map[string]any{"alg": "EDDSA"}),
		"alg ES256":                           ed(signer, map[string]any{"alg": "ES256"}),
		"alg missing":                         ed(signer, map[string]any{"alg": nil}),
		"alg a number":                        ed(signer, map[string]any{"alg": 1}),
		"no kid":                              ed(signer, map[string]any{"kid": nil}),
		"kid empty":                           ed(signer, map[string]any{"kid": ""}),
		"kid a number":                        ed(signer, map[string]any{"kid": 7}),
		"kid unknown":                         ed(stranger, nil),
		"kid of a configured key, other key":  ed(stranger, map[string]any{"kid": signer.Kid}),
		"kid of the second key, first key":    ed(signer, map[string]any{"kid": verifier.Kid}),
		"kid a path":                          ed(signer, map[string]any{"kid": "../../../dev/null"}),
		"stranger key offered in jwk":         ed(stranger, map[string]any{"kid": nil, "jwk": strangerJWK}),
		"stranger key in jwk, its kid":        ed(stranger, map[string]any{"jwk": strangerJWK}),
		"stranger key offered through jku":    ed(stranger, map[string]any{"jku": "http://127.0.0.1:1/jwks.json"}),
		"stranger key offered through x5u":    ed(stranger, map[string]any{"x5u": "http://127.0.0.1:1/cert.pem"}),
		"signature of another token":          strings.Join(append(strings.Split(ed(signer, nil), ".")[:2], strings.Split(ed(signer, nil), ".")[2]), "."),
		"signature truncated":                 truncated(ed(signer, nil)),
		"signature removed":                   strings.Join(strings.Split(ed(signer, nil), ".")[:2], ".") + ".",
		"login token of the other key's kid ": strings.Replace(loginToken, strings.Split(loginToken, ".")[0], strings.Split(ed(verifier, nil), ".")[0], 1),
	}
	t.Run("ErrUnauthorized", func(t *testing.T) {
		for name, tok := range attacks {
			resp := me(tok)
			if resp.Status != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != "Bearer" {
				t.Errorf("%s: %d %s (WWW-Authenticate %q), want 401", name, resp.Status, resp.Body, resp.Header.Get("WWW-Authenticate"))
			}
		}
	})

	t.Run("JWKS", func(t *testing.T) {
		resp := e.client.Get("/.well-known/jwks.json", "")
		if resp.Status != http.StatusOK || resp.Header.Get("Cache-Control") != "public, max-age=300" {
			t.Fatalf("%d, Cache-Control %q", resp.Status, resp.Header.Get("Cache-Control"))
		}
		var set struct{ Keys []map[string]string }
		resp.Decode(t, &set)
		if len(set.Keys) != 2 {
			t.Fatalf("keys %v", set.Keys)
		}
		for i, k := range []models.SigningKey{signer, verifier} {
			got := set.Keys[i]
			want := map[string]string{"kty": "OKP", "crv": "Ed25519", "kid": k.Kid, "use": "sig", "alg": "EdDSA",
				"x": base64.RawURLEncoding.EncodeToString(k.Public)}
			if len(got) != len(want) {
				t.Fatalf("key %d: %v, want %v (no private member)", i, got, want)
			}
			for name, v := range want {
				if got[name] != v {
					t.Fatalf("key %d: %s = %q, want %q", i, name, got[name], v)
				}
			}
		}
	})

	t.Run("UnderHS256", func(t *testing.T) {
		hsEnv := newEnv(t, nil)
		_, tok := hsEnv.newUser()
		id := decodeClaims(t, tok)["sub"].(string)
		if resp := hsEnv.client.Get("/auth/me", rawToken(t, map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": signer.Kid}, hsEnv.validClaims(t, id), edSigner(signer))); resp.Status != http.StatusUnauthorized {
			t.Fatalf("EdDSA token under HS256: %d %s", resp.Status, resp.Body)
		}
		resp := hsEnv.client.Get("/.well-known/jwks.json", "")
		if resp.Status != http.StatusOK || string(resp.Body) != `{"keys":[]}` || resp.Header.Get("Cache-Control") != "public, max-age=300" {
			t.Fatalf("JWKS under HS256: %d %s %q", resp.Status, resp.Body, resp.Header.Get("Cache-Control"))
		}
	})
}
