package app_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestRegister(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)

	t.Run("OK", func(t *testing.T) {
		email := randomEmail()
		resp := e.client.Post("/auth/register", map[string]any{
			"email": "  " + strings.ToUpper(email) + " ", "password": goodPassword,
			// fields a client must not set are ignored
			"role": "admin", "status": map[string]string{"status": "active"}, "id": "x", "password_hash": "x",
		}, "")
		if resp.Status != http.StatusCreated {
			t.Fatalf("status %d: %s", resp.Status, resp.Body)
		}
		body := resp.JSON(t)
		if body["type"] != "success" {
			t.Fatalf("type = %v", body["type"])
		}
		user := body["data"].(map[string]any)
		if user["email"] != email || user["role"] != "user" {
			t.Fatalf("user = %v", user)
		}
		if st := user["status"].(map[string]any); st["status"] != "pending_verification" || len(st) != 1 {
			t.Fatalf("status = %v", st)
		}
		if strings.Contains(string(resp.Body), "password") || strings.Contains(string(resp.Body), "$2a$") {
			t.Fatalf("body leaks the password or its hash: %s", resp.Body)
		}
		if ct, _ := user["created_at"].(string); !strings.HasSuffix(ct, "Z") {
			t.Fatalf("created_at = %v, want RFC 3339 UTC", user["created_at"])
		}
	})

	t.Run("ErrEmailTaken", func(t *testing.T) {
		email := randomEmail()
		e.register(email, goodPassword)
		resp := e.client.Post("/auth/register", map[string]string{"email": strings.ToUpper(email), "password": goodPassword}, "")
		if msg := wantError(t, resp, http.StatusConflict, "conflict"); msg != "conflict: email already exists" {
			t.Fatalf("error = %q", msg)
		}
	})
}
