package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/valyala/fasthttp"

	"github.com/example/authapi/app"
	"github.com/example/authapi/config"
	"github.com/example/authapi/models"
)

// reference is the floor GET /auth/me is compared with: the same work (bearer token, HS256 and
// the same claim checks, the whitelist and epoch check through the same TokenStore, the user by primary key
// through the same BunUserStore and pool settings, the same JSON) on bare fasthttp, with no
// router, middleware, request id, access log or metrics. The difference is what the framework
// and the middleware chain cost.
type reference struct {
	secret []byte
	issuer string
	parser *jwt.Parser
	tokens *models.TokenStore
	users  *models.BunUserStore
}

// meJSON has the shape of routes.userJSON for a non-suspended user (the only kind benched).
type meJSON struct {
	ID        string `json:"id"`
	Email     string `json:"email"`
	CreatedAt string `json:"created_at"`
	Status    struct {
		Status string `json:"status"`
	} `json:"status"`
	Role string `json:"role"`
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
	c, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	live, err := r.tokens.Check(c, claims.Subject, claims.ID, claims.Role)
	if err != nil || !live {
		ctx.Error(`{"error":"unauthorized: token revoked"}`, fasthttp.StatusUnauthorized)
		return
	}
	u, err := r.users.ByID(c, id)
	if err != nil {
		status := fasthttp.StatusInternalServerError
		var me *models.Error
		if errors.As(err, &me) && me.Code == models.CodeNotFound {
			status = fasthttp.StatusUnauthorized
		}
		ctx.Error(`{"error":"internal error"}`, status)
		return
	}
	out := meJSON{ID: u.ID.String(), Email: u.Email, CreatedAt: u.CreatedAt.UTC().Format(time.RFC3339Nano), Role: string(u.Role)}
	out.Status.Status = string(u.Status)
	body, _ := json.Marshal(out)
	ctx.SetContentType("application/json")
	ctx.SetBody(body)
}

// serveReference runs the reference on addr until the process is killed. It reads the same
// configuration as the service (DATABASE_URL, REDIS_URL, JWT_*), so pool sizes match.
func serveReference(addr string) error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	rdb, err := app.OpenRedis(cfg.Redis)
	if err != nil {
		return err
	}
	db := app.OpenDB(cfg.DB)
	r := &reference{
		secret: cfg.JWT.Secret,
		issuer: cfg.JWT.Issuer,
		parser: jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired()),
		tokens: models.NewTokenStore(rdb, cfg.Redis.Timeout),
		users:  models.NewBunUserStore(db, cfg.DB.QueryTimeout),
	}
	return (&fasthttp.Server{Handler: r.handle, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}).ListenAndServe(addr)
}
