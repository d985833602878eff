package app_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/example/authapi/app/apptest"
)

// TestAuthCheck: GET and HEAD /auth/check answer 204 with the caller's identity for a live
// token, 403 for a token without the role asked for, 400 for a role that does not exist, and
// otherwise the 401/503 of any protected route; they read nothing from Postgres.
func TestAuthCheck(t *testing.T) {
	t.Parallel()
	rd := apptest.StartRedis(t) // its own Redis, to take down at the end
	e := newEnv(t, map[string]string{"REDIS_URL": rd.URL()})
	_, user := e.newUser()
	admin := e.newAdmin()
	check := func(method, query, token string) apptest.Response {
		return e.client.Do(apptest.Request{Method: method, Path: "/auth/check" + query, Token: token})
	}
	wantIdentity := func(t *testing.T, resp apptest.Response, token, role string) {
		t.Helper()
		if resp.Status != http.StatusNoContent || len(resp.Body) != 0 {
			t.Fatalf("status %d body %s, want 204", resp.Status, resp.Body)
		}
		claims := decodeClaims(t, token)
		if got := resp.Header.Get("X-Auth-User-Id"); got != claims["sub"] {
			t.Fatalf("X-Auth-User-Id = %q, want %v", got, claims["sub"])
		}
		if got := resp.Header.Get("X-Auth-User-Role"); got != role {
			t.Fatalf("X-Auth-User-Role = %q, want %s", got, role)
		}
		if got, ok := resp.Header["X-Auth-Session-Id"]; !ok || got[0] != stringOf(claims["sid"]) {
			t.Fatalf("X-Auth-Session-Id = %q (present %v), want the token's sid %v", got, ok, claims["sid"])
		}
	}

	t.Run("OK", func(t *testing.T) {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			wantIdentity(t, check(method, "", user), user, "user")
			wantIdentity(t, check(method, "?role=user", user), user, "user")
			wantIdentity(t, check(method, "", admin), admin, "admin")
			wantIdentity(t, check(method, "?role=admin", admin), admin, "admin")
		}
	})
	t.Run("ErrForbidden", func(t *testing.T) {
		if msg := wantError(t, check(http.MethodGet, "?role=admin", user), http.StatusForbidden, "forbidden"); msg != "forbidden: admin role required" {
			t.Fatalf("error %q", msg)
		}
		if msg := wantError(t, check(http.MethodGet, "?role=user", admin), http.StatusForbidden, "forbidden"); msg != "forbidden: user role required" {
			t.Fatalf("error %q", msg)
		}
		if resp := check(http.MethodHead, "?role=admin", user); resp.Status != http.StatusForbidden {
			t.Fatalf("HEAD: %d", resp.Status)
		}
	})
	t.Run("ErrUnknownRole", func(t *testing.T) {
		for _, q := range []string{"?role=root", "?role=Admin", "?role=admin%00"} {
			wantError(t, e.client.Do(apptest.Request{Method: http.MethodGet, Path: "/auth/check" + q, Token: admin, SkipRequestValidation: true}),
				http.StatusBadRequest, "validation_error")
		}
		// The token is checked first: a bad token with a bad role is a 401.
		wantError(t, e.client.Do(apptest.Request{Method: http.MethodGet, Path: "/auth/check?role=root", Token: "x.y.z", SkipRequestValidation: true}),
			http.StatusUnauthorized, "unauthorized")
	})
	t.Run("ErrUnauthorized", func(t *testing.T) {
		for name, token := range map[string]string{"missing": "", "garbage": "not-a-jwt", "forged": user[:len(user)-4] + "AAAA"} {
			resp := check(http.MethodGet, "", token)
			wantError(t, resp, http.StatusUnauthorized, "unauthorized")
			if resp.Header.Get("WWW-Authenticate") != "Bearer" || resp.Header.Get("X-Auth-User-Id") != "" {
				t.Fatalf("%s: headers %v", name, resp.Header)
			}
		}
		// A token in the query string is never read.
		resp := e.client.Do(apptest.Request{Method: http.MethodGet, Path: "/auth/check?token=" + user, SkipRequestValidation: true})
		wantError(t, resp, http.StatusUnauthorized, "unauthorized")
	})
	t.Run("NoPostgres", func(t *testing.T) {
		// The user's row is gone, yet its live token passes: /auth/check asked Redis only.
		// (/auth/me, which reads the row, refuses the same token.)
		_, tok := e.newUser()
		sub := decodeClaims(t, tok)["sub"].(string)
		if _, err := e.db.NewDelete().TableExpr("users").Where("id = ?", sub).Exec(context.Background()); err != nil {
			t.Fatal(err)
		}
		wantIdentity(t, check(http.MethodGet, "", tok), tok, "user")
		if resp := e.client.Get("/auth/me", tok); resp.Status != http.StatusUnauthorized {
			t.Fatalf("/auth/me of a deleted user: %d", resp.Status)
		}
	})
	t.Run("ErrRevoked", func(t *testing.T) {
		_, tok := e.newUser()
		if resp := e.client.Post("/auth/logout", nil, tok); resp.Status != http.StatusNoContent {
			t.Fatalf("logout: %d %s", resp.Status, resp.Body)
		}
		if msg := wantError(t, check(http.MethodGet, "", tok), http.StatusUnauthorized, "unauthorized"); msg != "unauthorized: token revoked" {
			t.Fatalf("error %q", msg)
		}
	})
	t.Run("ErrRedisDown", func(t *testing.T) {
		rd.Kill()
		resp := check(http.MethodGet, "", user)
		wantError(t, resp, http.StatusServiceUnavailable, "unavailable")
		if resp.Header.Get("X-Auth-User-Id") != "" {
			t.Fatalf("identity on a 503: %v", resp.Header)
		}
	})
}

func stringOf(v any) string {
	s, _ := v.(string)
	return s
}
