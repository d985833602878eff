package app_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/example/authapi/app/apptest"
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

func TestRegisterValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	long := strings.Repeat("a", 64) + "1"
	tests := []struct {
		name string
		body any
		want string
	}{
		{"ErrInvalidEmail", map[string]string{"email": "not-an-email", "password": goodPassword}, "validation error: invalid email format"},
		{"ErrDisplayName", map[string]string{"email": "Ada <ada@example.com>", "password": goodPassword}, "validation error: invalid email format"},
		{"ErrNoDotInDomain", map[string]string{"email": "ada@localhost", "password": goodPassword}, "validation error: invalid email format"},
		{"ErrEmailTooLong", map[string]string{"email": strings.Repeat("a", 64) + "@" + strings.Repeat("b", 190) + ".com", "password": goodPassword}, "validation error: email too long (max 254 bytes)"},
		{"ErrPasswordShort", map[string]string{"email": randomEmail(), "password": "abc1"}, "validation error: password too short (min 8)"},
		{"ErrPasswordLong", map[string]string{"email": randomEmail(), "password": long + strings.Repeat("b", 8)}, "validation error: password too long (max 72 bytes)"},
		{"ErrPasswordLongMultibyte", map[string]string{"email": randomEmail(), "password": "a1" + strings.Repeat("é", 36)}, "validation error: password too long (max 72 bytes)"},
		{"ErrPasswordNoDigit", map[string]string{"email": randomEmail(), "password": "abcdefghij"}, "validation error: password must include at least one letter and one number"},
		{"ErrPasswordNoLetter", map[string]string{"email": randomEmail(), "password": "1234567890"}, "validation error: password must include at least one letter and one number"},
		{"ErrEmailCheckedFirst", map[string]string{"email": "bad", "password": "x"}, "validation error: invalid email format"},
		{"ErrMissingEmail", map[string]string{"password": goodPassword}, "validation error: email is required"},
		{"ErrMissingPassword", map[string]string{"email": randomEmail()}, "validation error: password is required"},
		{"ErrNullEmail", `{"email":null,"password":"abc12345"}`, "validation error: email is required"},
		{"ErrEmailNotString", `{"email":5,"password":"abc12345"}`, "validation error: field email must be a string"},
		{"ErrMalformed", `{"email":`, "validation error: malformed JSON body"},
		{"ErrEmpty", ``, "validation error: malformed JSON body"},
		{"ErrArray", `[]`, "validation error: request body must be a JSON object"},
		{"ErrTrailing", `{"email":"a@b.co","password":"abc12345"} {}`, "validation error: request body must hold one JSON value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.client.Post("/auth/register", tc.body, "")
			if msg := wantError(t, resp, http.StatusBadRequest, "validation_error"); msg != tc.want {
				t.Fatalf("error = %q, want %q", msg, tc.want)
			}
		})
	}
	t.Run("NothingCreated", func(t *testing.T) {
		st, err := e.users.Stats(t.Context())
		if err != nil || st.Total != 0 {
			t.Fatalf("after refused registrations: total = %d, err %v", st.Total, err)
		}
	})
	t.Run("OK72Bytes", func(t *testing.T) {
		pw := strings.Repeat("a", 71) + "1"
		e.register(randomEmail(), pw)
	})
}

func TestContentType(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	body := `{"email":"` + randomEmail() + `","password":"` + goodPassword + `"}`
	for _, tc := range []struct {
		name, contentType string
		want              int
	}{
		{"ErrMissing", "", http.StatusUnsupportedMediaType},
		{"ErrTextPlain", "text/plain", http.StatusUnsupportedMediaType},
		{"ErrForm", "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
		{"OKCharset", "application/json; charset=utf-8", http.StatusCreated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.client.Do(apptest.Request{Method: http.MethodPost, Path: "/auth/register", Body: body, Header: map[string]string{"Content-Type": tc.contentType}})
			if tc.want == http.StatusUnsupportedMediaType {
				wantError(t, resp, tc.want, "unsupported_media_type")
				return
			}
			if resp.Status != tc.want {
				t.Fatalf("status %d: %s", resp.Status, resp.Body)
			}
		})
	}
	t.Run("LogoutNeedsNoBody", func(t *testing.T) {
		_, token := e.newUser()
		resp := e.client.Do(apptest.Request{Method: http.MethodPost, Path: "/auth/logout", Token: token})
		if resp.Status != http.StatusNoContent {
			t.Fatalf("status %d: %s", resp.Status, resp.Body)
		}
	})
}
