package app_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/example/authapi/app/apptest"
)

// forgot → reset mail → reset → every old token 401, the old password refused, the new one
// logs in; the token is single use and the account's older reset tokens die with it.
func TestPasswordForgotAndReset(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, nil)
	email := randomEmail()
	e.register(email, goodPassword)
	e.token(email, 1) // the verification mail; the account stays pending
	t1, t2 := e.login(email, goodPassword), e.login(email, goodPassword)

	forgot := func() string {
		t.Helper()
		// Counted before the request: the worker is woken by it and may deliver the message
		// before the response is read, and a count taken then would wait for one too many.
		n := len(e.smtp.To(email)) + 1
		resp := e.client.Post("/auth/password/forgot", map[string]string{"email": email}, "")
		if resp.Status != http.StatusAccepted || string(resp.Body) != `{"status":"accepted"}` {
			t.Fatalf("forgot: %d %s", resp.Status, resp.Body)
		}
		m := e.smtp.WaitFor(email, n, 60*time.Second)[n-1]
		if m.Subject != "Reset your password" {
			t.Fatalf("subject %q", m.Subject)
		}
		return e.token(email, n)
	}
	older, tok := forgot(), forgot()
	const newPassword = "new-horse-42"

	t.Run("ErrWeakPasswordKeepsToken", func(t *testing.T) {
		msg := wantError(t, e.client.Post("/auth/password/reset", map[string]string{"token": tok, "password": "short1"}, ""), http.StatusBadRequest, "validation_error")
		if msg != "validation error: password too short (min 8)" {
			t.Fatalf("error = %q", msg)
		}
	})
	resp := e.client.Post("/auth/password/reset", map[string]string{"token": tok, "password": newPassword}, "")
	if resp.Status != http.StatusNoContent {
		t.Fatalf("reset: %d %s", resp.Status, resp.Body)
	}
	for _, old := range []string{t1, t2} {
		wantError(t, e.client.Get("/auth/me", old), http.StatusUnauthorized, "unauthorized")
	}
	wantError(t, e.client.Post("/auth/login", map[string]string{"email": email, "password": goodPassword}, ""), http.StatusUnauthorized, "unauthorized")
	fresh := e.login(email, newPassword)
	// The mailed link proved the address: the pending account is active now.
	if got := e.statusOf(fresh); got != "active" {
		t.Fatalf("status after reset = %s", got)
	}
	for name, spent := range map[string]string{"ErrReused": tok, "ErrOlderTokenDied": older} {
		t.Run(name, func(t *testing.T) {
			msg := wantError(t, e.client.Post("/auth/password/reset", map[string]string{"token": spent, "password": "another-horse-7"}, ""), http.StatusBadRequest, "validation_error")
			if msg != invalidToken {
				t.Fatalf("error = %q", msg)
			}
		})
	}
	if e.meStatus(fresh) != http.StatusOK {
		t.Fatal("a refused reset revoked the new token")
	}

	t.Run("UnknownAddressNoMail", func(t *testing.T) {
		unknown := randomEmail()
		resp := e.client.Post("/auth/password/forgot", map[string]string{"email": unknown}, "")
		if resp.Status != http.StatusAccepted || string(resp.Body) != `{"status":"accepted"}` {
			t.Fatalf("forgot: %d %s", resp.Status, resp.Body)
		}
		e.settled()
		if n := len(e.smtp.To(unknown)); n != 0 {
			t.Fatalf("%d messages to an unknown address", n)
		}
		// Nothing of the unknown address stays in the database.
		var rows int
		if err := e.db.NewRaw("SELECT count(*) FROM mail_outbox WHERE recipient = ?", unknown).Scan(context.Background(), &rows); err != nil || rows != 0 {
			t.Fatalf("%d outbox rows keep the unknown address (%v)", rows, err)
		}
	})
}

// A reset does not lift a suspension: the password changes, login is still 403.
func TestPasswordResetKeepsSuspension(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, nil)
	email := randomEmail()
	e.register(email, goodPassword)
	e.token(email, 1)
	if _, err := e.users.Suspend(context.Background(), email, nil, nil); err != nil {
		t.Fatal(err)
	}
	e.client.Post("/auth/password/forgot", map[string]string{"email": email}, "")
	tok := e.token(email, 2)
	if resp := e.client.Post("/auth/password/reset", map[string]string{"token": tok, "password": "new-horse-42"}, ""); resp.Status != http.StatusNoContent {
		t.Fatalf("reset: %d %s", resp.Status, resp.Body)
	}
	wantError(t, e.client.Post("/auth/login", map[string]string{"email": email, "password": "new-horse-42"}, ""), http.StatusForbidden, "forbidden")
}

// change → every other token 401, the one used still works, the new password logs in; a wrong
// current password is a 401 counted by the login limits.
func TestPasswordChange(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, map[string]string{"LOGIN_MAX_FAILURES_ACCOUNT_ADDR": "2"})
	email := randomEmail()
	e.register(email, goodPassword)
	used, other := e.login(email, goodPassword), e.login(email, goodPassword)
	// A reset link mailed before the change must not undo it.
	e.client.Post("/auth/password/forgot", map[string]string{"email": email}, "")
	pendingReset := e.token(email, 2)

	const newPassword = "new-horse-42"
	change := func(current, next, token string) int {
		t.Helper()
		return e.client.Post("/auth/password/change", map[string]string{"current_password": current, "new_password": next}, token).Status
	}
	t.Run("ErrWeakNewPassword", func(t *testing.T) {
		wantError(t, e.client.Post("/auth/password/change", map[string]string{"current_password": goodPassword, "new_password": "nodigits"}, used), http.StatusBadRequest, "validation_error")
	})
	t.Run("ErrNoToken", func(t *testing.T) {
		wantError(t, e.client.Post("/auth/password/change", map[string]string{"current_password": goodPassword, "new_password": newPassword}, ""), http.StatusUnauthorized, "unauthorized")
	})
	if got := change(goodPassword, newPassword, used); got != http.StatusNoContent {
		t.Fatalf("change: %d", got)
	}
	if e.meStatus(used) != http.StatusOK {
		t.Fatal("the token used for the change was revoked")
	}
	if e.meStatus(other) != http.StatusUnauthorized {
		t.Fatal("another token of the user survived the change")
	}
	wantError(t, e.client.Post("/auth/login", map[string]string{"email": email, "password": goodPassword}, ""), http.StatusUnauthorized, "unauthorized")
	e.login(email, newPassword)
	wantError(t, e.client.Post("/auth/password/reset", map[string]string{"token": pendingReset, "password": "another-horse-7"}, ""), http.StatusBadRequest, "validation_error")

	t.Run("ErrWrongCurrentCountsAsFailedLogin", func(t *testing.T) {
		for range 2 {
			resp := e.client.Post("/auth/password/change", map[string]string{"current_password": "wrong-horse-1", "new_password": "third-horse-3"}, used)
			if msg := wantError(t, resp, http.StatusUnauthorized, "unauthorized"); msg != "unauthorized: current password is incorrect" {
				t.Fatalf("error = %q", msg)
			}
		}
		// Two failures use up LOGIN_MAX_FAILURES_ACCOUNT_ADDR: change and login are refused
		// alike, even with the right password.
		wantError(t, e.client.Post("/auth/password/change", map[string]string{"current_password": newPassword, "new_password": "third-horse-3"}, used), http.StatusTooManyRequests, "rate_limited")
		wantError(t, e.client.Post("/auth/login", map[string]string{"email": email, "password": newPassword}, ""), http.StatusTooManyRequests, "rate_limited")
		if e.meStatus(used) != http.StatusOK {
			t.Fatal("failed changes revoked the token")
		}
	})
}

// Resend and forgot are limited per email and per client address, counted alike for every
// address, existing or not; each route counts apart.
func TestMailRequestLimits(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, map[string]string{
		"MAIL_REQUEST_MAX_PER_EMAIL": "2", "MAIL_REQUEST_MAX_PER_ADDR": "4", "MAIL_REQUEST_WINDOW": "1h",
		"TRUSTED_PROXIES": "0.0.0.0", // the in-process peer, so each test run counts a fresh address
	})
	addr := randomIP()
	post := func(path, email string) apptest.Response {
		return e.client.Do(apptest.Request{Method: http.MethodPost, Path: path, Body: map[string]string{"email": email},
			Header: map[string]string{"X-Forwarded-For": addr}})
	}
	forgot := func(email string) apptest.Response { return post("/auth/password/forgot", email) }
	email := randomEmail()
	e.register(email, goodPassword)
	for i := range 2 {
		if resp := forgot(email); resp.Status != http.StatusAccepted {
			t.Fatalf("forgot %d: %d %s", i, resp.Status, resp.Body)
		}
	}
	wantRateLimited(t, forgot(email), time.Hour) // per email (the address has counted 3)
	if resp := post("/auth/verify/resend", email); resp.Status != http.StatusAccepted {
		t.Fatalf("resend, another route: %d %s", resp.Status, resp.Body)
	}
	if resp := forgot(randomEmail()); resp.Status != http.StatusAccepted {
		t.Fatalf("a fourth request from the address: %d %s", resp.Status, resp.Body)
	}
	wantRateLimited(t, forgot(randomEmail()), time.Hour) // per address
}
