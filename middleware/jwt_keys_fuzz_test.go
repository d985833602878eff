package middleware_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/valyala/fasthttp"

	"github.com/example/authapi/middleware"
	"github.com/example/authapi/models"
)

// fuzzKeys are two fixed Ed25519 keys (from fixed seeds: the corpus's tokens stay signed by
// them across runs); the first signs.
func fuzzKeys() []models.SigningKey {
	keys := make([]models.SigningKey, 2)
	for i := range keys {
		seed := sha256.Sum256([]byte{'f', 'u', 'z', 'z', byte(i)})
		keys[i] = models.NewSigningKey(ed25519.NewKeyFromSeed(seed[:]))
	}
	return keys
}

// strictlyValidEdDSA is an independent, strict reading of the EdDSA rules: the Bearer scheme,
// then golang-jwt with EdDSA only, the key whose kid the header names and no other, exp, the
// issuer, sub (a UUID) and jti.
func strictlyValidEdDSA(header string, keys []models.SigningKey) bool {
	scheme, raw, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	claims := &jwt.RegisteredClaims{}
	_, err := jwt.ParseWithClaims(strings.TrimSpace(raw), claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		for _, k := range keys {
			if k.Kid == kid {
				return k.Public, nil
			}
		}
		return nil, errors.New("unknown kid")
	}, jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithExpirationRequired(), jwt.WithIssuer("auth-api"), jwt.WithLeeway(5*time.Second))
	if err != nil {
		return false
	}
	_, err = uuid.Parse(claims.Subject)
	return err == nil && claims.ID != ""
}

// FuzzTokenCheckEdDSA is FuzzTokenCheck under JWT_ALG=EdDSA with two keys. Invariants: no
// panic; 200 or 401 only; a 200 only for a token the strict check accepts.
func FuzzTokenCheckEdDSA(f *testing.F) {
	keys := fuzzKeys()
	opts := middleware.JWTOptions{Keys: keys, Issuer: "auth-api", Leeway: 5 * time.Second}
	issue := func(k *models.SigningKey) string {
		tok, _, err := models.NewIssuer(models.IssuerOptions{Key: k, Issuer: "auth-api", Expiry: time.Hour}, time.Now).Issue(uuid.New(), models.RoleUser, uuid.New(), []string{"pwd"})
		if err != nil {
			f.Fatal(err)
		}
		return tok
	}
	valid, second := issue(&keys[0]), issue(&keys[1])
	confused := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": uuid.NewString(), "iss": "auth-api", "jti": "j", "exp": time.Now().Add(time.Hour).Unix()})
	confused.Header["kid"] = keys[0].Kid
	hs, err := confused.SignedString([]byte(keys[0].Public))
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{"Bearer " + valid, "Bearer " + second, "Bearer " + hs, "Bearer " + valid[:len(valid)-2], "bearer " + valid, ""} {
		f.Add(seed)
	}

	app := fiber.New(fiber.Config{ErrorHandler: func(c *fiber.Ctx, err error) error {
		var e *models.Error
		if errors.As(err, &e) && e.Code == models.CodeUnauthorized {
			return c.SendStatus(fiber.StatusUnauthorized)
		}
		return c.SendStatus(fiber.StatusInternalServerError)
	}})
	app.Get("/me", middleware.JWT(opts, nil), func(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusOK) })
	handler := app.Handler()

	f.Fuzz(func(t *testing.T, authorization string) {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetMethod(fiber.MethodGet)
		ctx.Request.SetRequestURI("/me")
		ctx.Request.Header.Set(fiber.HeaderAuthorization, authorization)
		handler(&ctx)
		sent := string(ctx.Request.Header.Peek(fiber.HeaderAuthorization))
		switch status := ctx.Response.StatusCode(); status {
		case fiber.StatusOK:
			if !strictlyValidEdDSA(sent, keys) {
				t.Fatalf("accepted %q, which the strict check refuses", sent)
			}
		case fiber.StatusUnauthorized:
		default:
			t.Fatalf("status %d for %q", status, sent)
		}
	})
}
