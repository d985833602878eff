package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/valyala/fasthttp"

	"github.com/example/authapi/app"
	"github.com/example/authapi/config"
	"github.com/example/authapi/models"
	"github.com/example/authapi/routes"
)

// reference is the floor GET /auth/me is compared with: the same work (bearer token, HS256 and
// the same claim checks, the whitelist and epoch check (GET jwt:<jti>, GET token_epoch:{<uid>}) through the same TokenStore, the user by primary key,
// the same JSON encoder) on bare fasthttp, with no router, middleware, request id, access log
// or metrics. With byID from the service's BunUserStore (Bun, pgdriver, same pool settings) the
// difference is what the framework and the middleware chain cost; with byID on pgx (the
// "pgx floor") the difference between the two references is the driver's share.
type reference struct {
	secret []byte
	issuer string
	parser *jwt.Parser
	tokens *models.TokenStore
	byID   func(context.Context, uuid.UUID) (*models.User, error)
}

func (r *reference) handle(ctx *fasthttp.RequestCtx) {
	auth := ctx.Request.Header.Peek(fasthttp.HeaderAuthorization)
	if len(auth) < 7 || !bytes.EqualFold(auth[:7], []byte("bearer ")) {
		ctx.Error(`{"error":"unauthorized: missing bearer token"}`, fasthttp.StatusUnauthorized)
		return
	}
	claims := &models.Claims{}
	tok, err := r.parser.ParseWithClaims(string(auth[7:]), claims, func(*jwt.Token) (any, error) { return r.secret, nil })
	if err != nil || !tok.Valid || claims.Issuer != r.issuer {
		ctx.Error(`{"error":"unauthorized: invalid token"}`, fasthttp.StatusUnauthorized)
		return
	}
	if claims.NotBefore != nil && time.Now().Add(5*time.Second).Before(claims.NotBefore.Time) {
		ctx.Error(`{"error":"unauthorized: token not valid yet"}`, fasthttp.StatusUnauthorized)
		return
	}
	id, _ := uuid.Parse(claims.Subject)
	// As in the service: no request-wide context (fasthttp's never ends early); each store call
	// sets its own deadline.
	c := context.Background()
	live, err := r.tokens.Check(c, claims.Subject, claims.SessionID, claims.ID, claims.Role)
	if err != nil || !live {
		ctx.Error(`{"error":"unauthorized: token revoked"}`, fasthttp.StatusUnauthorized)
		return
	}
	u, err := r.byID(c, id)
	if err != nil {
		status := fasthttp.StatusInternalServerError
		var me *models.Error
		if errors.As(err, &me) && me.Code == models.CodeNotFound {
			status = fasthttp.StatusUnauthorized
		}
		ctx.Error(`{"error":"internal error"}`, status)
		return
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(routes.AppendMeJSON(ctx.Response.Body()[:0], u))
}

// serveReference runs the reference on addr until the process is killed. It reads the same
// configuration as the service (DATABASE_URL, REDIS_URL, JWT_*), so pool sizes match. driver
// is "pgdriver" (the service's BunUserStore) or "pgx" (pgxpool, same pool size).
func serveReference(addr, driver string) error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	rdb, err := app.OpenRedis(cfg.Redis, nil)
	if err != nil {
		return err
	}
	r := &reference{
		secret: cfg.JWT.Secret,
		issuer: cfg.JWT.Issuer,
		parser: jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired()),
		tokens: models.NewTokenStore(rdb, cfg.Redis.Timeout),
	}
	switch driver {
	case "pgdriver":
		r.byID = models.NewBunUserStore(app.OpenDB(cfg.DB), cfg.DB.QueryTimeout).ByID
	case "pgx":
		if r.byID, err = pgxByID(cfg.DB); err != nil {
			return err
		}
	default:
		return fmt.Errorf("reference: unknown driver %q", driver)
	}
	return (&fasthttp.Server{Handler: r.handle, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}).ListenAndServe(addr)
}
