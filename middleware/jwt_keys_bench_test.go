package middleware_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/example/authapi/middleware"
	"github.com/example/authapi/models"
	"github.com/example/authapi/routes"
)

// BenchmarkTokenCheckAlg prices the JWT middleware per request under each JWT_ALG: HS256 with
// the secret, EdDSA with one key, and EdDSA with three keys in the file (kid lookup in a map, so
// the count should not matter). Run with:
//
//	go test ./middleware -run '^$' -bench 'TokenCheckAlg|AuthCheck' -benchmem
func BenchmarkTokenCheckAlg(b *testing.B) {
	keys := make([]models.SigningKey, 3)
	for i := range keys {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		keys[i] = models.NewSigningKey(priv)
	}
	for _, tc := range []struct {
		name string
		keys []models.SigningKey
	}{{"HS256", nil}, {"EdDSA", keys[:1]}, {"EdDSA-3keys", keys}} {
		b.Run(tc.name, func(b *testing.B) {
			opts := benchOpts
			opts.Keys = tc.keys
			app := fiber.New(fiber.Config{DisableStartupMessage: true})
			app.Get("/auth/me", middleware.JWT(opts, nil), func(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusOK) })
			serve(b, app.Handler(), issue(b, tc.keys), fiber.StatusOK)
		})
	}
}

// BenchmarkAuthCheck is GET /auth/check's chain without Redis (the whitelist stands in as a
// pass-through): the JWT middleware, then the handler writing the three X-Auth-* headers.
func BenchmarkAuthCheck(b *testing.B) {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	routes.RegisterCheck(app, routes.Authn{
		JWT:       middleware.JWT(benchOpts, nil),
		Whitelist: func(c *fiber.Ctx) error { return c.Next() },
	})
	h := app.Handler()
	tok := issue(b, nil)
	b.Run("GET", func(b *testing.B) { serveCheck(b, h, tok) })
}

// issue signs a token with the first of keys (EdDSA), or with the bench secret when there are none.
func issue(b *testing.B, keys []models.SigningKey) string {
	b.Helper()
	opts := models.IssuerOptions{Secret: benchOpts.Secret, Issuer: benchOpts.Issuer, Expiry: time.Hour}
	if len(keys) > 0 {
		opts.Key = &keys[0]
	}
	tok, _, err := models.NewIssuer(opts, time.Now).Issue(uuid.New(), models.RoleUser, uuid.New(), []string{"pwd"})
	if err != nil {
		b.Fatal(err)
	}
	return tok
}
