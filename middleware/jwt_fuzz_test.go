package middleware_test

import (
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

const fuzzSecret = "fuzz-secret-0123456789-abcdefghijklmnop"

// strictlyValid is an independent, strict reading of the contract's token rules, for the fuzz
// invariant: the Bearer scheme (any case) and one space, then golang-jwt with HS256 only, exp
// required, the issuer, and sub (a UUID) and jti set.
func strictlyValid(header string) bool {
	scheme, raw, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	raw = strings.TrimSpace(raw) // whitespace around the token is harmless; the library trims it too
	// RegisteredClaims, not MapClaims: golang-jwt's NumericDate also reads a quoted number
	// ("exp":"4102444800"). Only a token signed with our secret can carry one, and we never
	// write one, so the checks below are about signature, algorithm and required claims.
	claims := &jwt.RegisteredClaims{}
	_, err := jwt.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return []byte(fuzzSecret), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(), jwt.WithIssuer("auth-api"), jwt.WithLeeway(5*time.Second))
	if err != nil {
		return false
	}
	_, err = uuid.Parse(claims.Subject)
	return err == nil && claims.ID != ""
}

// FuzzTokenCheck sends arbitrary Authorization headers through the JWT middleware. Invariants:
// no panic; every answer is 200 or 401 (never a 500); a 200 only for a token that the strict
// independent check above accepts.
func FuzzTokenCheck(f *testing.F) {
	opts := middleware.JWTOptions{Secret: []byte(fuzzSecret), Issuer: "auth-api", Leeway: 5 * time.Second}
	issuer := models.NewIssuer(models.IssuerOptions{Secret: opts.Secret, Issuer: opts.Issuer, Expiry: time.Hour}, time.Now)
	valid, _, err := issuer.Issue(uuid.New(), models.RoleUser, uuid.New(), []string{"pwd"})
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{"Bearer " + valid, "bearer " + valid, "Bearer " + valid + "x", "Bearer", "Bearer  " + valid, "Basic " + valid, ""} {
		f.Add(seed)
	}

	app := fiber.New(fiber.Config{ErrorHandler: func(c *fiber.Ctx, err error) error {
		var e *models.Error
		if errors.As(err, &e) && e.Code == models.CodeUnauthorized {
			return c.SendStatus(fiber.StatusUnauthorized)
		}
		return c.SendStatus(fiber.StatusInternalServerError)
	}})
	app.Get("/me", middleware.JWT(opts, nil), func(c *fiber.Ctx) error {
		if middleware.PrincipalOf(c) == nil {
			return errors.New("no principal after a successful check")
		}
		return c.SendStatus(fiber.StatusOK)
	})
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
			if !strictlyValid(sent) {
				t.Fatalf("accepted %q, which the strict check refuses", sent)
			}
		case fiber.StatusUnauthorized:
		default:
			t.Fatalf("status %d for %q", status, sent)
		}
	})
}
