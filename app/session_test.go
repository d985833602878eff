package app_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/example/authapi/app/apptest"
)

func TestMe(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	email, token := e.newUser()

	t.Run("OK", func(t *testing.T) {
		resp := e.client.Get("/auth/me", token)
		if resp.Status != http.StatusOK {
			t.Fatalf("status %d: %s", resp.Status, resp.Body)
		}
		body := resp.JSON(t)
		if body["email"] != email || body["role"] != "user" || body["type"] != nil {
			t.Fatalf("body %s, want the bare user", resp.Body)
		}
	})
	t.Run("OKSchemeCaseInsensitive", func(t *testing.T) {
		resp := e.client.Do(apptest.Request{Method: http.MethodGet, Path: "/auth/me", Header: map[string]string{"Authorization": "bEaReR " + token}})
		if resp.Status != http.StatusOK {
			t.Fatalf("status %d: %s", resp.Status, resp.Body)
		}
	})
	t.Run("ErrNoToken", func(t *testing.T) {
		resp := e.client.Get("/auth/me", "")
		wantError(t, resp, http.StatusUnauthorized, "unauthorized")
		if resp.Header.Get("WWW-Authenticate") != "Bearer" {
			t.Fatalf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
		}
	})
	t.Run("ErrGarbage", func(t *testing.T) {
		wantError(t, e.client.Get("/auth/me", "not.a.jwt"), http.StatusUnauthorized, "unauthorized")
	})
	t.Run("ErrTokenInQuery", func(t *testing.T) {
		wantError(t, e.client.Get("/auth/me?token="+token+"&access_token="+token, ""), http.StatusUnauthorized, "unauthorized")
	})
	t.Run("ErrUserDeleted", func(t *testing.T) {
		email, token := e.newUser()
		if _, err := e.db.NewDelete().TableExpr("users").Where("email = ?", email).Exec(context.Background()); err != nil {
			t.Fatal(err)
		}
		wantError(t, e.client.Get("/auth/me", token), http.StatusUnauthorized, "unauthorized")
	})
}

func TestLogout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	email, first := e.newUser()
	second := e.login(email, goodPassword)

	resp := e.client.Post("/auth/logout", nil, first)
	if resp.Status != http.StatusNoContent || len(resp.Body) != 0 {
		t.Fatalf("logout: %d %s", resp.Status, resp.Body)
	}
	if msg := wantError(t, e.client.Get("/auth/me", first), http.StatusUnauthorized, "unauthorized"); msg != "unauthorized: token revoked" {
		t.Fatalf("error = %q", msg)
	}
	if n, _ := e.rdb.Exists(context.Background(), "jwt:"+decodeClaims(t, first)["jti"].(string)).Result(); n != 0 {
		t.Fatalf("jwt:{jti} still exists after logout")
	}
	// The user's other token is untouched.
	if resp := e.client.Get("/auth/me", second); resp.Status != http.StatusOK {
		t.Fatalf("other token: %d %s", resp.Status, resp.Body)
	}
	// Logging out twice with the same token is refused: it is no longer a valid token.
	wantError(t, e.client.Post("/auth/logout", nil, first), http.StatusUnauthorized, "unauthorized")
}

func TestLogoutAll(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	email, first := e.newUser()
	second := e.login(email, goodPassword)
	_, otherUser := e.newUser()

	resp := e.client.Post("/auth/logout-all", nil, second)
	if resp.Status != http.StatusNoContent {
		t.Fatalf("logout-all: %d %s", resp.Status, resp.Body)
	}
	for name, token := range map[string]string{"first": first, "second": second} {
		if resp := e.client.Get("/auth/me", token); resp.Status != http.StatusUnauthorized {
			t.Fatalf("%s token after logout-all: %d", name, resp.Status)
		}
	}
	if resp := e.client.Get("/auth/me", otherUser); resp.Status != http.StatusOK {
		t.Fatalf("another user's token after logout-all: %d", resp.Status)
	}
	// A new login after logout-all works.
	if resp := e.client.Get("/auth/me", e.login(email, goodPassword)); resp.Status != http.StatusOK {
		t.Fatalf("token issued after logout-all: %d", resp.Status)
	}
}
