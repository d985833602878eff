package app_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/authapi/app/apptest"
)

// TestEmailChange: end to end through the mail the test SMTP server received.
func TestEmailChange(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, nil)
	old := randomEmail()
	e.register(old, goodPassword)
	e.token(old, 1) // the verification mail
	asking, other := e.login(old, goodPassword), e.login(old, goodPassword)
	change := func(token, password, newEmail string) int {
		t.Helper()
		return e.client.Post("/auth/email/change", map[string]string{"password": password, "new_email": newEmail}, token).Status
	}
	wantError(t, e.client.Post("/auth/email/change", map[string]string{"password": "wrong-password-1", "new_email": randomEmail()}, asking), http.StatusUnauthorized, "unauthorized")
	wantError(t, e.client.Post("/auth/email/change", map[string]string{"password": goodPassword, "new_email": "not an email"}, asking), http.StatusBadRequest, "validation_error")

	t.Run("ErrHostileNewEmail", func(t *testing.T) {
		before := len(e.smtp.To(old))
		for name, bad := range map[string]string{
			"NUL": "victim@example.com\x00", "ZeroWidth": "vic\u200btim@example.com", "Cyrillic": "vict\u0456m@example.com",
			"DisplayName": "Victim <victim@example.com>", "TooLong": strings.Repeat("a", 250) + "@example.com", "Empty": "",
		} {
			t.Run(name, func(t *testing.T) {
				wantError(t, e.client.Post("/auth/email/change", map[string]string{"password": goodPassword, "new_email": bad}, asking), http.StatusBadRequest, "validation_error")
			})
		}
		wantError(t, e.client.Do(apptest.Request{Method: http.MethodPost, Path: "/auth/email/change", Token: asking,
			Body: `{"password":"` + goodPassword + `","new_email":"a@example.com","new_email":"b@example.com"}`, SkipRequestValidation: true}), http.StatusBadRequest, "validation_error")
		e.settled()
		if after := len(e.smtp.To(old)); after != before {
			t.Fatalf("a refused change mailed the old address (%d → %d messages)", before, after)
		}
	})
	t.Run("ErrExpiredOrUnknownToken", func(t *testing.T) {
		newEmail := randomEmail()
		if s := change(asking, goodPassword, newEmail); s != http.StatusAccepted {
			t.Fatalf("change: %d", s)
		}
		tok := e.token(newEmail, 1)
		_, err := e.db.ExecContext(context.Background(), "UPDATE mail_tokens SET expires_at = now() - interval '1 second' WHERE kind = 'email_change' AND new_email = ?", newEmail)
		apptest.Must(t, err, "expire")
		wantError(t, e.client.Post("/auth/email/confirm", map[string]string{"token": tok}, ""), http.StatusBadRequest, "validation_error")
		for _, bad := range []string{"", "abc", strings.Repeat("A", 10<<10)} {
			wantError(t, e.client.Post("/auth/email/confirm", map[string]string{"token": bad}, ""), http.StatusBadRequest, "validation_error")
		}
		if e.me(asking) != http.StatusOK {
			t.Fatal("a refused confirmation ended the session")
		}
	})
	t.Run("OK", func(t *testing.T) {
		newEmail := randomEmail()
		if s := change(asking, goodPassword, strings.ToUpper(newEmail)); s != http.StatusAccepted {
			t.Fatalf("change: %d", s)
		}
		notice := e.smtp.WaitFor(old, 2, 60*time.Second)[1]
		if !strings.Contains(notice.Subject, "email address was requested") || strings.Contains(notice.Text, newEmail) {
			t.Fatalf("notice %q: %s", notice.Subject, notice.Text)
		}
		tok := e.token(newEmail, 1)
		resp := e.client.Post("/auth/email/confirm", map[string]string{"token": tok}, "")
		if resp.Status != http.StatusOK || resp.JSON(t)["email"] != newEmail {
			t.Fatalf("confirm: %d %s", resp.Status, resp.Body)
		}
		if e.me(asking) != http.StatusOK || e.me(other) != http.StatusUnauthorized {
			t.Fatal("confirm must keep the asking session and end the others")
		}
		wantError(t, e.client.Post("/auth/login", map[string]string{"email": old, "password": goodPassword}, ""), http.StatusUnauthorized, "unauthorized")
		e.login(newEmail, goodPassword)
		wantError(t, e.client.Post("/auth/email/confirm", map[string]string{"token": tok}, ""), http.StatusBadRequest, "validation_error")
		e.register(old, goodPassword) // the old address is free
		old = newEmail
	})
	t.Run("ErrTakenIs202Then409", func(t *testing.T) {
		taken := randomEmail()
		e.register(taken, goodPassword)
		if s := change(asking, goodPassword, taken); s != http.StatusAccepted {
			t.Fatalf("change to a taken address: %d", s)
		}
		tok := e.token(taken, 2) // its verification mail, then the confirmation
		wantError(t, e.client.Post("/auth/email/confirm", map[string]string{"token": tok}, ""), http.StatusConflict, "conflict")
	})
	t.Run("OneOfTwoRacingConfirmations", func(t *testing.T) {
		target := randomEmail()
		a, b := randomEmail(), randomEmail()
		e.register(a, goodPassword)
		e.register(b, goodPassword)
		ta, tb := e.login(a, goodPassword), e.login(b, goodPassword)
		if change(ta, goodPassword, target) != http.StatusAccepted || change(tb, goodPassword, target) != http.StatusAccepted {
			t.Fatal("change refused")
		}
		msgs := e.smtp.WaitFor(target, 2, 60*time.Second)
		tokens := []string{e.token(target, 1), e.token(target, 2)}
		_ = msgs
		statuses := make([]int, 2)
		var wg sync.WaitGroup
		for i, tok := range tokens {
			wg.Go(func() { statuses[i] = e.client.Post("/auth/email/confirm", map[string]string{"token": tok}, "").Status })
		}
		wg.Wait()
		if statuses[0]+statuses[1] != http.StatusOK+http.StatusConflict {
			t.Fatalf("racing confirmations answered %v, want one 200 and one 409", statuses)
		}
	})
}
