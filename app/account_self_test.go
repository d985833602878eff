package app_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/example/authapi/app/apptest"
)

func (e *env) deleteMe(token string, body map[string]string) apptest.Response {
	e.t.Helper()
	return e.client.Do(apptest.Request{Method: http.MethodDelete, Path: "/auth/me", Body: body, Token: token})
}

// countRows counts the rows of each table that still name the user (by id or email).
func (e *env) rowsOf(t *testing.T, userID, email string) map[string]int {
	t.Helper()
	ctx := context.Background()
	out := map[string]int{}
	for table, where := range map[string]string{
		"users": "id = ? OR email = ?", "sessions": "user_id = ? OR ? = ''", "mfa_factors": "user_id = ? OR ? = ''",
		"mfa_recovery_codes": "user_id = ? OR ? = ''", "mfa_challenges": "user_id = ? OR email = ?",
		"mail_tokens": "user_id = ? OR ? = ''", "mail_outbox": "? = '' OR lower(recipient) = lower(?)",
	} {
		var n int
		if err := e.db.QueryRowContext(ctx, "SELECT count(*) FROM "+table+" WHERE "+where, userID, email).Scan(&n); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		out[table] = n
	}
	return out
}

func TestDeleteMe(t *testing.T) {
	t.Parallel()
	e, _ := newMFAEnv(t, nil)
	t.Run("OK", func(t *testing.T) {
		before := e.client.Get("/users/stats", e.newAdmin()).JSON(t)
		email := randomEmail()
		userID := e.register(email, goodPassword)["id"].(string)
		token := e.login(email, goodPassword)
		other := e.login(email, goodPassword)
		wantError(t, e.deleteMe(token, map[string]string{"password": "wrong-password-1"}), http.StatusUnauthorized, "unauthorized")
		wantError(t, e.deleteMe(token, map[string]string{}), http.StatusBadRequest, "validation_error")
		if r := e.deleteMe(token, map[string]string{"password": goodPassword}); r.Status != http.StatusNoContent {
			t.Fatalf("delete: %d %s", r.Status, r.Body)
		}
		for _, tok := range []string{token, other} {
			if e.me(tok) != http.StatusUnauthorized {
				t.Fatal("a token of a deleted account works")
			}
		}
		for table, n := range e.rowsOf(t, userID, email) {
			if n != 0 {
				t.Fatalf("%d rows of the deleted user left in %s", n, table)
			}
		}
		after := e.client.Get("/users/stats", e.newAdmin()).JSON(t)
		// Two admins were registered for the two reads; the deleted user is gone from the counts.
		if after["total"].(float64) != before["total"].(float64)+1 {
			t.Fatalf("stats %v then %v", before, after)
		}
		e.register(email, goodPassword) // the email is free again
	})
	t.Run("MFACodeRequired", func(t *testing.T) {
		email, token, codes, _ := e.mfaUser(t)
		wantError(t, e.deleteMe(token, map[string]string{"password": goodPassword}), http.StatusBadRequest, "validation_error")
		msg := wantError(t, e.deleteMe(token, map[string]string{"password": goodPassword, "code": "000000"}), http.StatusUnauthorized, "unauthorized")
		if msg != "unauthorized: invalid code" {
			t.Fatalf("%q", msg)
		}
		if r := e.deleteMe(token, map[string]string{"password": goodPassword, "code": codes.code()}); r.Status != http.StatusNoContent {
			t.Fatalf("delete: %d %s", r.Status, r.Body)
		}
		wantError(t, e.client.Post("/auth/login", map[string]string{"email": email, "password": goodPassword}, ""), http.StatusUnauthorized, "unauthorized")
	})
}

func TestExportMe(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	email, token := e.newUser()
	resp := e.client.Get("/auth/me/export", token)
	var out struct {
		User     map[string]any   `json:"user"`
		Sessions []map[string]any `json:"sessions"`
		Events   []map[string]any `json:"events"`
	}
	resp.Decode(t, &out)
	if resp.Status != http.StatusOK || out.User["email"] != email || len(out.Sessions) != 1 || out.Sessions[0]["current"] != true || out.Events == nil {
		t.Fatalf("export: %d %s", resp.Status, resp.Body)
	}
}
