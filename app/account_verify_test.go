package app_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/example/authapi/models"
)

const invalidToken = "validation error: invalid or expired token"

// Register → verification mail over real SMTP → verify → active; the token is single use.
func TestVerifyFlow(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, nil)
	email := randomEmail()
	start := time.Now()
	e.register(email, goodPassword)
	msgs := e.smtp.WaitFor(email, 1, 60*time.Second)
	t.Logf("verification mail delivered %s after register returned", msgs[0].At.Sub(start))
	m := msgs[0]
	if m.Subject != "Confirm your email address" || m.From != "no-reply@localhost" {
		t.Fatalf("subject %q from %q", m.Subject, m.From)
	}
	tok := m.Token()
	if tok == "" || !strings.Contains(m.Text, "https://app.example.com/verify-email#token="+tok) ||
		!strings.Contains(m.HTML, `href="https://app.example.com/verify-email#token=`+tok+`"`) {
		t.Fatalf("no link in the text or HTML part:\n%s\n%s", m.Text, m.HTML)
	}

	// A pending account may log in; it is pending until it verifies.
	token := e.login(email, goodPassword)
	if got := e.statusOf(token); got != "pending_verification" {
		t.Fatalf("status before verify = %s", got)
	}
	resp := e.client.Post("/auth/verify", map[string]string{"token": tok}, "")
	if resp.Status != http.StatusOK {
		t.Fatalf("verify: %d %s", resp.Status, resp.Body)
	}
	user := resp.JSON(t)
	if user["email"] != email || user["status"].(map[string]any)["status"] != "active" {
		t.Fatalf("verify answered %s", resp.Body)
	}
	// Verifying ends every session opened before it (account pre-hijacking): the token of the
	// login made while pending is refused, and a new login sees the account active.
	if resp := e.client.Get("/auth/me", token); resp.Status != http.StatusUnauthorized {
		t.Fatalf("a session opened before verification survived it: %d", resp.Status)
	}
	if got := e.statusOf(e.login(email, goodPassword)); got != "active" {
		t.Fatalf("status after verify = %s", got)
	}

	t.Run("ErrReused", func(t *testing.T) {
		msg := wantError(t, e.client.Post("/auth/verify", map[string]string{"token": tok}, ""), http.StatusBadRequest, "validation_error")
		if msg != invalidToken {
			t.Fatalf("error = %q", msg)
		}
	})
	t.Run("ErrUnknownOrMalformed", func(t *testing.T) {
		unknown, _, _ := models.NewMailToken()
		for _, bad := range []string{unknown, "abc", "", strings.Repeat("A", 44), tok[:42] + "!"} {
			msg := wantError(t, e.client.Post("/auth/verify", map[string]string{"token": bad}, ""), http.StatusBadRequest, "validation_error")
			if msg != invalidToken {
				t.Fatalf("token %q: error = %q", bad, msg)
			}
		}
	})
	t.Run("ErrMissingToken", func(t *testing.T) {
		msg := wantError(t, e.client.Post("/auth/verify", map[string]string{}, ""), http.StatusBadRequest, "validation_error")
		if msg != "validation error: token is required" {
			t.Fatalf("error = %q", msg)
		}
	})
	t.Run("ErrResetTokenCannotVerify", func(t *testing.T) {
		other := randomEmail()
		e.register(other, goodPassword)
		e.token(other, 1)
		e.client.Post("/auth/password/forgot", map[string]string{"email": other}, "")
		reset := e.token(other, 2)
		wantError(t, e.client.Post("/auth/verify", map[string]string{"token": reset}, ""), http.StatusBadRequest, "validation_error")
	})

	fams := scrape(t, e.admin)
	if n := counterValue(t, fams, "mail_sent_total", map[string]string{"kind": "verify"}); n < 1 {
		t.Fatalf("mail_sent_total{kind=verify} = %v", n)
	}
	if strings.Contains(e.logs.String(), tok) {
		t.Fatal("the token is in the log")
	}
}

func TestVerifyExpiredToken(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, nil)
	email := randomEmail()
	e.register(email, goodPassword)
	tok := e.token(email, 1)
	if _, err := e.db.ExecContext(context.Background(), "UPDATE mail_tokens SET expires_at = now() - interval '1 second'"); err != nil {
		t.Fatal(err)
	}
	if msg := wantError(t, e.client.Post("/auth/verify", map[string]string{"token": tok}, ""), http.StatusBadRequest, "validation_error"); msg != invalidToken {
		t.Fatalf("error = %q", msg)
	}
	if got := e.statusOf(e.login(email, goodPassword)); got != "pending_verification" {
		t.Fatalf("an expired token changed the status to %s", got)
	}
}

// A suspended user can verify (the address is proven) and stays suspended: verification does
// not lift a suspension, and login is still refused.
func TestVerifySuspendedUser(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, nil)
	email := randomEmail()
	e.register(email, goodPassword)
	tok := e.token(email, 1)
	reason := "abuse"
	if _, err := e.users.Suspend(context.Background(), email, &reason, nil); err != nil {
		t.Fatal(err)
	}
	resp := e.client.Post("/auth/verify", map[string]string{"token": tok}, "")
	if resp.Status != http.StatusOK {
		t.Fatalf("verify: %d %s", resp.Status, resp.Body)
	}
	if st := resp.JSON(t)["status"].(map[string]any); st["status"] != "suspended" || st["reason"] != "abuse" {
		t.Fatalf("status after verify = %v", st)
	}
	wantError(t, e.client.Post("/auth/login", map[string]string{"email": email, "password": goodPassword}, ""), http.StatusForbidden, "forbidden")
	var verified bool
	if err := e.db.NewRaw("SELECT email_verified_at IS NOT NULL FROM users WHERE email = ?", email).Scan(context.Background(), &verified); err != nil || !verified {
		t.Fatalf("email_verified_at not set (%v)", err)
	}
}

// Resend mails pending accounts only, and answers the same for every address.
func TestVerifyResend(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, nil)
	pending, active, unknown := randomEmail(), randomEmail(), randomEmail()
	e.register(pending, goodPassword)
	e.register(active, goodPassword)
	e.token(pending, 1)
	if resp := e.client.Post("/auth/verify", map[string]string{"token": e.token(active, 1)}, ""); resp.Status != http.StatusOK {
		t.Fatalf("verify: %d %s", resp.Status, resp.Body)
	}
	for _, email := range []string{pending, active, unknown, strings.ToUpper(pending)} {
		resp := e.client.Post("/auth/verify/resend", map[string]string{"email": email}, "")
		if resp.Status != http.StatusAccepted || string(resp.Body) != `{"status":"accepted"}` {
			t.Fatalf("resend %s: %d %s", email, resp.Status, resp.Body)
		}
	}
	e.settled()
	if n := len(e.smtp.To(pending)); n != 3 {
		t.Fatalf("%d messages to the pending account, want 3 (register + 2 resends)", n)
	}
	if n := len(e.smtp.To(active)); n != 1 {
		t.Fatalf("%d messages to the active account, want only its first", n)
	}
	if n := len(e.smtp.To(unknown)); n != 0 {
		t.Fatalf("%d messages to an unknown address", n)
	}
	// Any of the pending account's tokens verifies it.
	if resp := e.client.Post("/auth/verify", map[string]string{"token": e.token(pending, 3)}, ""); resp.Status != http.StatusOK {
		t.Fatalf("verify with the resent token: %d %s", resp.Status, resp.Body)
	}
	wantError(t, e.client.Post("/auth/verify/resend", map[string]string{"email": "not-an-email"}, ""), http.StatusBadRequest, "validation_error")
	wantError(t, e.client.Post("/auth/verify/resend", map[string]string{}, ""), http.StatusBadRequest, "validation_error")
}
