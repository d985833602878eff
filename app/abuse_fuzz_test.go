package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"runtime"
	"strconv"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/example/authapi/app/apptest"
	"github.com/example/authapi/models"
)

// fuzzBodyLimit is the fuzz app's BODY_LIMIT_BYTES: no request may allocate as if it had
// inflated its body beyond it.
const fuzzBodyLimit = 64 << 10

// FuzzAuthRequests sends arbitrary bodies, content types and content encodings to register,
// login and the admin batch endpoint of a real App (Postgres, Redis). Invariants: no panic, no
// 5xx, every error in the contract's shape, no response body ever holds a password hash, and no
// body is inflated beyond BODY_LIMIT_BYTES (a request allocates no more than a few times its
// wire body plus the limit; an inflated bomb in the corpus allocates megabytes).
func FuzzAuthRequests(f *testing.F) {
	// Prepared as Run does: the dummy hash is made before any measured request.
	s := apptest.MustNewApp(f, map[string]string{"LOGIN_MAX_FAILURES_ACCOUNT_ADDR": "1000000", "LOGIN_MAX_FAILURES_ACCOUNT": "1000000",
		"BATCH_MAX_ITEMS": "5", "BODY_LIMIT_BYTES": strconv.Itoa(fuzzBodyLimit)}, nil)
	handler := s.App.Public().Handler()
	var contentEncoding string // of the request send builds; set per fuzz input
	send := func(method, path, contentType, authorization string, body []byte) (int, []byte) {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetMethod(method)
		ctx.Request.SetRequestURI(path)
		if contentType != "" {
			ctx.Request.Header.SetContentType(contentType)
		}
		if contentEncoding != "" {
			ctx.Request.Header.Set(fiber.HeaderContentEncoding, contentEncoding)
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
	if _, err := s.Users.SetRole(context.Background(), adminEmail, models.RoleAdmin); err != nil {
		f.Fatal(err)
	}
	status, body := send(http.MethodPost, "/auth/login", "application/json", "", creds)
	var login struct{ Token string }
	if err := json.Unmarshal(body, &login); status != http.StatusOK || err != nil {
		f.Fatalf("login admin: %d %s", status, body)
	}
	adminAuth := "Bearer " + login.Token

	f.Add(creds, "application/json", "")
	f.Add([]byte(`{"email":"new@example.com","password":"abcdefgh1","role":"admin","password_hash":"$2a$04$x"}`), "application/json; charset=utf-8", "")
	f.Add([]byte(`[{"email":"b@example.com","password":"abcdefgh1"},{"email":"B@example.com","password":"abcdefgh1"}]`), "application/json", "")
	f.Add([]byte(`{"email":`), "application/json", "")
	f.Add([]byte(`{"email":"a@example.com","password":"abcdefgh1"}`), "text/plain", "")

	f.Fuzz(func(t *testing.T, body []byte, contentType, encoding string) {
		contentEncoding = encoding
		for _, target := range []struct{ path, auth string }{
			{"/auth/register", ""}, {"/auth/login", ""}, {"/users/batch", adminAuth},
		} {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			status, resp := send(http.MethodPost, target.path, contentType, target.auth, body)
			runtime.ReadMemStats(&after)
			// A login that opens a session allocates about 140 KB whatever its body (a transaction,
			// tokens); an inflated body would allocate megabytes.
			if allocated := after.TotalAlloc - before.TotalAlloc; allocated > uint64(8*len(body)+4*fuzzBodyLimit) {
				t.Fatalf("%s: %d bytes allocated for a %d-byte body: a body was inflated beyond BODY_LIMIT_BYTES", target.path, allocated, len(body))
			}
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
