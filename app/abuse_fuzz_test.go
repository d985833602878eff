package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/example/authapi/app/apptest"
	"github.com/example/authapi/models"
)

// FuzzAuthRequests sends arbitrary bodies and content types to register, login and the admin
// batch endpoint of a real App (Postgres, Redis). Invariants: no panic, no 5xx, every error in
// the contract's shape, and no response body ever holds a password hash.
func FuzzAuthRequests(f *testing.F) {
	a := apptest.MustNewApp(f, map[string]string{"LOGIN_MAX_FAILURES_ACCOUNT_ADDR": "1000000", "LOGIN_MAX_FAILURES_ACCOUNT": "1000000", "BATCH_MAX_ITEMS": "5"}, nil)
	handler := a.Public().Handler()
	send := func(method, path, contentType, authorization string, body []byte) (int, []byte) {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetMethod(method)
		ctx.Request.SetRequestURI(path)
		if contentType != "" {
			ctx.Request.Header.SetContentType(contentType)
		}
		if authorization != "" {
			ctx.Request.Header.Set(fiber.HeaderAuthorization, authorization)
		}
		ctx.Request.SetBody(body)
		handler(&ctx)
		return ctx.Response.StatusCode(), append([]byte(nil), ctx.Response.Body()...)
	}

	// An admin token for the batch endpoint.
	adminEmail := apptest.RandomName("fuzz-admin-") + "@example.com"
	creds, _ := json.Marshal(map[string]string{"email": adminEmail, "password": goodPassword})
	if status, body := send(http.MethodPost, "/auth/register", "application/json", "", creds); status != http.StatusCreated {
		f.Fatalf("register admin: %d %s", status, body)
	}
	if _, err := a.Users.SetRole(context.Background(), adminEmail, models.RoleAdmin); err != nil {
		f.Fatal(err)
	}
	status, body := send(http.MethodPost, "/auth/login", "application/json", "", creds)
	var login struct{ Token string }
	if err := json.Unmarshal(body, &login); status != http.StatusOK || err != nil {
		f.Fatalf("login admin: %d %s", status, body)
	}
	adminAuth := "Bearer " + login.Token

	f.Add(creds, "application/json")
	f.Add([]byte(`{"email":"new@example.com","password":"abcdefgh1","role":"admin","password_hash":"$2a$04$x"}`), "application/json; charset=utf-8")
	f.Add([]byte(`[{"email":"b@example.com","password":"abcdefgh1"},{"email":"B@example.com","password":"abcdefgh1"}]`), "application/json")
	f.Add([]byte(`{"email":`), "application/json")
	f.Add([]byte(`{"email":"a@example.com","password":"abcdefgh1"}`), "text/plain")

	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		for _, target := range []struct{ path, auth string }{
			{"/auth/register", ""}, {"/auth/login", ""}, {"/users/batch", adminAuth},
		} {
			status, resp := send(http.MethodPost, target.path, contentType, target.auth, body)
			if status >= 500 {
				t.Fatalf("%s: status %d: %s", target.path, status, resp)
			}
			if bytes.Contains(resp, []byte("$2a$")) || bytes.Contains(resp, []byte("password_hash")) {
				t.Fatalf("%s: a password hash in the response: %s", target.path, resp)
			}
			if status >= 400 {
				var e struct{ Error, Code, RequestID string }
				if err := json.Unmarshal(resp, &e); err != nil || e.Error == "" || e.Code == "" {
					t.Fatalf("%s: %d without the error shape: %s", target.path, status, resp)
				}
			}
		}
	})
}
