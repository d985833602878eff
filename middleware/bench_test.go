package middleware_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/example/authapi/middleware"
	"github.com/example/authapi/models"
)

// These benchmarks price the pieces of GET /auth/me that are not I/O: the token check and the
// middleware every request crosses. Run with: go test ./middleware -run '^$' -bench . -benchmem
// They call the Fiber handler on a fasthttp.RequestCtx directly, with no socket, so the figures
// are the middleware's own CPU and allocations.

var benchOpts = middleware.JWTOptions{
	Secret: []byte("bench-only-secret-0123456789abcdef-0123"),
	Issuer: "auth-api",
	Leeway: 5 * time.Second,
}

func benchToken(b *testing.B) string {
	b.Helper()
	tok, _, err := models.NewIssuer(models.IssuerOptions{Secret: benchOpts.Secret, Issuer: benchOpts.Issuer, Expiry: time.Hour}, time.Now).Issue(uuid.New(), models.RoleUser, uuid.New(), []string{"pwd"})
	if err != nil {
		b.Fatal(err)
	}
	return tok
}

// serve runs one request through app and fails the benchmark on an unexpected status.
func serve(b *testing.B, h fasthttp.RequestHandler, token string, want int) {
	b.Helper()
	serveURI(b, h, "/auth/me", token, want)
}

// serveCheck runs GET /auth/check through h; it must answer 204.
func serveCheck(b *testing.B, h fasthttp.RequestHandler, token string) {
	b.Helper()
	serveURI(b, h, "/auth/check", token, fiber.StatusNoContent)
}

func serveURI(b *testing.B, h fasthttp.RequestHandler, uri, token string, want int) {
	b.Helper()
	var ctx fasthttp.RequestCtx
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ctx.Request.Reset()
		ctx.Response.Reset()
		ctx.Request.Header.SetMethod(fiber.MethodGet)
		ctx.Request.SetRequestURI(uri)
		ctx.Request.Header.Set(fiber.HeaderAuthorization, "Bearer "+token)
		h(&ctx)
		if got := ctx.Response.StatusCode(); got != want {
			b.Fatalf("status %d, want %d: %s", got, want, ctx.Response.Body())
		}
	}
}

// BenchmarkTokenCheck is the JWT middleware alone: parse, HS256, claims, Principal.
func BenchmarkTokenCheck(b *testing.B) {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/auth/me", middleware.JWT(benchOpts, nil), func(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusOK) })
	serve(b, app.Handler(), benchToken(b), fiber.StatusOK)
}

// BenchmarkChain is the service's chain in the public app's order (request id, metrics, access
// log at info into io.Discard, error handling, secure headers, JWT) around a handler that
// encodes a small JSON object: everything of /auth/me but Redis and Postgres.
func BenchmarkChain(b *testing.B) {
	logger := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	metrics := middleware.NewMetrics(prometheus.NewRegistry())
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Use(middleware.RequestID(), metrics.Instrument(), middleware.AccessLog(logger, middleware.ClientIP(nil)),
		middleware.HandleErrors(func(c *fiber.Ctx, err error) error { return c.SendStatus(fiber.StatusInternalServerError) }),
		middleware.SecureHeaders())
	app.Get("/auth/me", middleware.JWT(benchOpts, metrics.TokenRejected), func(c *fiber.Ctx) error {
		return c.JSON(fiber.Map{"id": middleware.PrincipalOf(c).UserID.String(), "role": "user"})
	})
	serve(b, app.Handler(), benchToken(b), fiber.StatusOK)
}

// BenchmarkBareHandler is the same JSON answer with no middleware: the floor of the two above.
func BenchmarkBareHandler(b *testing.B) {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	id := uuid.New()
	app.Get("/auth/me", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"id": id.String(), "role": "user"}) })
	serve(b, app.Handler(), benchToken(b), fiber.StatusOK)
}
