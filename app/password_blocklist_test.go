package app_test

import (
	"context"
	"net/http"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/example/authapi/models"
)

// TestCommonPasswordRefused: register, batch, reset and change refuse a password on the list of
// the most common ones, in any case, with 400 `validation error: password is too common`, after
// the email and the other password rules; login never applies the list.
func TestCommonPasswordRefused(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, nil)
	const common, tooCommon = "PassWord1", "validation error: password is too common"

	t.Run("ErrRegister", func(t *testing.T) {
		if msg := wantError(t, e.client.Post("/auth/register", map[string]string{"email": randomEmail(), "password": common}, ""), http.StatusBadRequest, "validation_error"); msg != tooCommon {
			t.Fatalf("error = %q", msg)
		}
		// The email is checked first, then the rules, then the list.
		if msg := wantError(t, e.client.Post("/auth/register", map[string]string{"email": "bad", "password": common}, ""), http.StatusBadRequest, "validation_error"); msg != "validation error: invalid email format" {
			t.Fatalf("bad email and common password: %q", msg)
		}
		if msg := wantError(t, e.client.Post("/auth/register", map[string]string{"email": randomEmail(), "password": "password"}, ""), http.StatusBadRequest, "validation_error"); msg != "validation error: password must include at least one letter and one number" {
			t.Fatalf("a common password that breaks a rule: %q", msg)
		}
	})
	t.Run("ErrBatchItem", func(t *testing.T) {
		resp := e.client.Post("/users/batch", []any{
			map[string]string{"email": randomEmail(), "password": "qwerty123"},
			map[string]string{"email": randomEmail(), "password": goodPassword},
		}, e.newAdmin())
		if resp.Status != http.StatusOK {
			t.Fatalf("batch: %d %s", resp.Status, resp.Body)
		}
		body := resp.JSON(t)
		failed, _ := body["failed"].([]any)
		if created, _ := body["created"].([]any); len(created) != 1 || len(failed) != 1 || failed[0].(map[string]any)["error"] != tooCommon {
			t.Fatalf("batch: %s", resp.Body)
		}
	})
	t.Run("ErrChange", func(t *testing.T) {
		_, token := e.newUser()
		msg := wantError(t, e.client.Post("/auth/password/change", map[string]string{"current_password": goodPassword, "new_password": common}, token), http.StatusBadRequest, "validation_error")
		if msg != tooCommon {
			t.Fatalf("error = %q", msg)
		}
	})
	t.Run("ErrReset", func(t *testing.T) {
		email := randomEmail()
		e.register(email, goodPassword)
		if resp := e.client.Post("/auth/password/forgot", map[string]string{"email": email}, ""); resp.Status != http.StatusAccepted {
			t.Fatalf("forgot: %d %s", resp.Status, resp.Body)
		}
		tok := e.token(email, 2) // the verification mail, then the reset mail
		msg := wantError(t, e.client.Post("/auth/password/reset", map[string]string{"token": tok, "password": common}, ""), http.StatusBadRequest, "validation_error")
		if msg != tooCommon {
			t.Fatalf("error = %q", msg)
		}
		if resp := e.client.Post("/auth/password/reset", map[string]string{"token": tok, "password": "new-horse-42"}, ""); resp.Status != http.StatusNoContent {
			t.Fatalf("the token did not survive the refused password: %d %s", resp.Status, resp.Body)
		}
	})
	t.Run("OKLoginIgnoresTheList", func(t *testing.T) {
		// An account from before the list (or imported) keeps logging in with its password.
		hash, err := bcrypt.GenerateFromPassword([]byte(common), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		u := &models.User{Email: randomEmail(), PasswordHash: string(hash), Status: models.StatusActive, Role: models.RoleUser}
		if err := e.users.Create(context.Background(), u); err != nil {
			t.Fatal(err)
		}
		e.login(u.Email, common)
	})
}
