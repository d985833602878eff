package app_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/example/authapi/app/apptest"
	"github.com/example/authapi/models"
)

// JSON is read strictly, so that a gateway or WAF that reads the first of two names, or names
// case-sensitively, or stops at the first value, sees the same request as the service.
func TestStrictJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	email := randomEmail()
	e.register(email, goodPassword)
	creds := `"email":"` + email + `","password":"` + goodPassword + `"`
	for _, tc := range []struct{ name, body, want string }{
		{"ErrTrailingBrace", `{` + creds + `}}`, "request body must hold one JSON value"},
		{"ErrTrailingBracket", `{` + creds + `}]`, "request body must hold one JSON value"},
		{"ErrTrailingGarbage", `{` + creds + `}x`, "request body must hold one JSON value"},
		{"ErrDuplicatePassword", `{"email":"` + email + `","password":"wrong-password-1","password":"` + goodPassword + `"}`, "duplicate name in JSON object"},
		{"ErrDuplicateEmail", `{"email":"nobody@example.com",` + creds + `}`, "duplicate name in JSON object"},
		{"ErrDuplicateNested", `{` + creds + `,"x":{"a":1,"a":2}}`, "duplicate name in JSON object"},
		{"ErrDuplicateInArray", `{` + creds + `,"x":[{"a":1},{"b":1,"b":2}]}`, "duplicate name in JSON object"},
		{"ErrDuplicateEscaped", `{"email":"` + email + `","passw\u006frd":"x","password":"` + goodPassword + `"}`, "duplicate name in JSON object"},
		{"ErrUpperCaseName", `{"EMAIL":"` + email + `","password":"` + goodPassword + `"}`, "email is required"},
		{"ErrMixedCaseName", `{"email":"` + email + `","Password":"` + goodPassword + `"}`, "password is required"},
		{"ErrInvalidUTF8", `{"email":"` + email + `","password":"` + goodPassword + "\xff\"}", "malformed JSON body"},
		{"ErrLoneSurrogate", `{"email":"` + email + `","password":"` + goodPassword + `\ud800"}`, "malformed JSON body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/auth/login", "/auth/register"} {
				resp := e.client.Do(apptest.Request{Method: http.MethodPost, Path: path, Body: tc.body, SkipRequestValidation: true})
				if msg := wantError(t, resp, http.StatusBadRequest, "validation_error"); msg != "validation error: "+tc.want {
					t.Fatalf("%s: error = %q, want %q", path, msg, tc.want)
				}
			}
		})
	}
	t.Run("ErrAccountRoutes", func(t *testing.T) {
		for path, body := range map[string]string{
			"/auth/verify/resend":   `{"email":"a@example.com","email":"` + email + `"}`,
			"/auth/password/forgot": `{"email":"` + email + `"}}`,
			"/auth/password/reset":  `{"token":"x","password":"` + goodPassword + `","token":"y"}`,
			"/auth/verify":          `{"TOKEN":"x"}`,
		} {
			resp := e.client.Do(apptest.Request{Method: http.MethodPost, Path: path, Body: body, SkipRequestValidation: true})
			wantError(t, resp, http.StatusBadRequest, "validation_error")
		}
	})
	t.Run("OKUnknownFieldsIgnored", func(t *testing.T) {
		resp := e.client.Do(apptest.Request{Method: http.MethodPost, Path: "/auth/login", Body: `{` + creds + `,"EMAIL":"x","extra":{"a":[1,2]}}` + " \n"})
		if resp.Status != http.StatusOK {
			t.Fatalf("login with unknown fields and trailing whitespace: %d %s", resp.Status, resp.Body)
		}
	})
}

// A batch whose items repeat a name (at any depth) is refused whole, and creates nothing.
func TestStrictJSONBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	admin := e.newAdmin()
	before, _ := e.users.Stats(context.Background())
	item := func() string { return `"email":"` + randomEmail() + `","password":"` + goodPassword + `"` }
	for name, body := range map[string]string{
		"DuplicateInItem":  `[{` + item() + `},{` + item() + `,"password":"x"}]`,
		"DuplicateNested":  `[{` + item() + `,"meta":{"k":1,"k":2}}]`,
		"TrailingBracket":  `[{` + item() + `}]]`,
		"TrailingObject":   `[{` + item() + `}]{}`,
		"LoneSurrogate":    `[{` + item() + `,"x":"\udfff"}]`,
		"InvalidUTF8InKey": "[{" + item() + ",\"\xc3\x28\":1}]",
	} {
		resp := e.client.Do(apptest.Request{Method: http.MethodPost, Path: "/users/batch", Body: body, Token: admin, SkipRequestValidation: true})
		wantError(t, resp, http.StatusBadRequest, "validation_error")
		if after, _ := e.users.Stats(context.Background()); after.Total != before.Total {
			t.Fatalf("%s: created users (%d -> %d)", name, before.Total, after.Total)
		}
	}
}

// hostileEmails look like (or, under Unicode case mapping, become) the victim's address.
func hostileEmails(victim string) map[string]string {
	local, domain, _ := strings.Cut(victim, "@")
	return map[string]string{
		"nul end":          victim + "\x00",
		"nul start":        "\x00" + victim,
		"nul inside":       local[:3] + "\x00" + local[3:] + "@" + domain,
		"zero-width space": local + "\u200b@" + domain,
		"zero-width join":  local[:2] + "\u200d" + local[2:] + "@" + domain,
		"bidi override":    "\u202e" + victim,
		"bom":              "\ufeff" + victim,
		"cyrillic a":       "\u0430" + victim[1:],
		"kelvin sign":      "\u212a" + victim,
		"nbsp":             "\u00a0" + victim,
		"too long":         local + "@" + strings.Repeat("b", 250) + "." + domain,
		"control char":     local + "\x01@" + domain,
	}
}

// Register and batch refuse every email that is not printable ASCII.
func TestHostileEmailsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	admin := e.newAdmin()
	before, _ := e.users.Stats(context.Background())
	for name, email := range hostileEmails("user@example.com") {
		body := map[string]string{"email": email, "password": goodPassword}
		wantError(t, e.client.Post("/auth/register", body, ""), http.StatusBadRequest, "validation_error")
		resp := e.client.Post("/users/batch", []any{body}, admin)
		var out struct {
			Created []any `json:"created"`
			Failed  []struct {
				Email, Error string
			} `json:"failed"`
		}
		resp.Decode(t, &out)
		if resp.Status != http.StatusOK || len(out.Created) != 0 || len(out.Failed) != 1 || !strings.HasPrefix(out.Failed[0].Error, "validation error: ") {
			t.Fatalf("%s: batch %d %s", name, resp.Status, resp.Body)
		}
	}
	if after, _ := e.users.Stats(context.Background()); after.Total != before.Total {
		t.Fatalf("hostile emails created %d users", after.Total-before.Total)
	}
}

// One email, one identity: after the victim's account+address counter is full, no variant of
// the email (NUL, zero-width, bidi, lookalike) logs in with the right password. Each is the
// ordinary 401, costs one (dummy) bcrypt comparison and is counted like any failure.
func TestLoginEmailVariantsAfterLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil) // the default limit: 10 failures per account and address
	victim := randomEmail()
	e.register(victim, goodPassword)
	for range 10 {
		wantError(t, e.loginFrom(victim, "wrong-password-1", ""), http.StatusUnauthorized, "unauthorized")
	}
	wantError(t, e.loginFrom(victim, goodPassword, ""), http.StatusTooManyRequests, "rate_limited")
	wantError(t, e.loginFrom(" "+strings.ToUpper(victim)+"\t", goodPassword, ""), http.StatusTooManyRequests, "rate_limited")
	for name, variant := range hostileEmails(victim) {
		before := e.bcryptRuns(t)
		resp := e.client.Do(apptest.Request{Method: http.MethodPost, Path: "/auth/login",
			Body: map[string]string{"email": variant, "password": goodPassword}, SkipRequestValidation: true})
		if msg := wantError(t, resp, http.StatusUnauthorized, "unauthorized"); msg != "unauthorized: invalid credentials" {
			t.Fatalf("%s: error = %q", name, msg)
		}
		if runs := e.bcryptRuns(t) - before; runs != 1 {
			t.Fatalf("%s: %v bcrypt comparisons, want the one dummy comparison", name, runs)
		}
		key := failedLoginKeys(models.NormalizeEmail(variant), "0.0.0.0")[0]
		if n, err := e.rdb.Get(context.Background(), key).Int(); err != nil || n != 1 {
			t.Fatalf("%s: the failure was not counted (%d, %v)", name, n, err)
		}
	}
}
