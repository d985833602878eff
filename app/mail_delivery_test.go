package app_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/example/authapi/app"
	"github.com/example/authapi/app/apptest"
	"github.com/example/authapi/models"
)

// outboxRow reads the outbox row of recipient.
func (e *mailEnv) outboxRow(recipient string) (status string, attempts int, lastError string) {
	e.t.Helper()
	var le *string
	err := e.db.QueryRowContext(context.Background(),
		"SELECT status, attempts, last_error FROM mail_outbox WHERE recipient = ?", recipient).Scan(&status, &attempts, &le)
	if err != nil {
		e.t.Fatalf("outbox row of %s: %v", recipient, err)
	}
	if le != nil {
		lastError = *le
	}
	return status, attempts, lastError
}

// The SMTP server is down while users register: registration answers 201 at once, delivery is
// retried with backoff, and once the server is back every message arrives, once.
func TestMailSMTPDownDuringRegister(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, nil)
	e.smtp.Stop()
	emails := []string{randomEmail(), randomEmail(), randomEmail()}
	for _, email := range emails {
		// 201 while the message cannot have been sent: registration waits for no delivery
		// (a condition; a duration would fail on a busy machine, not on a bug).
		e.register(email, goodPassword)
		if st, _, _ := e.outboxRow(email); st != "pending" {
			t.Fatalf("outbox status right after register with SMTP down = %q, want pending", st)
		}
	}
	waitFor(t, 60*time.Second, "retries while SMTP is down", func() bool {
		_, attempts, lastError := e.outboxRow(emails[0])
		return attempts >= 2 && lastError != ""
	})
	if st, _, _ := e.outboxRow(emails[0]); st != "pending" {
		t.Fatalf("status with SMTP down = %s", st)
	}
	waitFor(t, 60*time.Second, "mail_queued counting the undelivered messages", func() bool {
		m := find(scrape(t, e.admin), "mail_queued", nil)
		return m != nil && m.GetGauge().GetValue() == float64(len(emails))
	})
	// Mail is no dependency of readiness.
	if resp := e.admin.Get("/readyz", ""); resp.Status != http.StatusOK {
		t.Fatalf("/readyz with SMTP down: %d %s", resp.Status, resp.Body)
	}
	e.smtp.Start()
	back := time.Now()
	for _, email := range emails {
		m := e.smtp.WaitFor(email, 1, 60*time.Second)[0]
		t.Logf("%s delivered %s after the SMTP server came back", email, m.At.Sub(back))
		if resp := e.client.Post("/auth/verify", map[string]string{"token": m.Token()}, ""); resp.Status != http.StatusOK {
			t.Fatalf("verify with the late mail's token: %d %s", resp.Status, resp.Body)
		}
	}
	e.settled()
	time.Sleep(300 * time.Millisecond) // a duplicate would have had time to arrive
	for _, email := range emails {
		if n := len(e.smtp.To(email)); n != 1 {
			t.Fatalf("%d messages to %s, want 1", n, email)
		}
		if st, _, _ := e.outboxRow(email); st != "sent" {
			t.Fatalf("status after delivery = %s", st)
		}
	}
	fams := scrape(t, e.admin)
	// The first message failed at least once (waited for above); the others may have been
	// first tried only after the server came back, on a busy machine.
	if n := counterValue(t, fams, "mail_retries_total", map[string]string{"kind": "verify"}); n < 1 {
		t.Fatalf("mail_retries_total{kind=verify} = %v, want the failed attempts counted", n)
	}
	if !strings.Contains(e.logs.String(), "mail delivery failed; will retry") {
		t.Fatal("no log line for the failed deliveries")
	}
}

// A server that reads a message and then refuses it (451): the message is retried; the token of
// the refused copy is dead and is in no log line; the retried copy's token works.
func TestMailRefusedThenRetried(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, nil)
	e.smtp.RejectNext(1)
	email := randomEmail()
	e.register(email, goodPassword)
	good := e.token(email, 1)
	refused := e.smtp.Rejected()
	if len(refused) != 1 || refused[0].Token() == "" || refused[0].Token() == good {
		t.Fatalf("refused copies: %d", len(refused))
	}
	bad := refused[0].Token()
	logs := e.logs.String()
	if !strings.Contains(logs, "mail delivery failed; will retry") || !strings.Contains(logs, "451") {
		t.Fatalf("no log line for the refused delivery:\n%s", logs)
	}
	if strings.Contains(logs, bad) || strings.Contains(logs, good) {
		t.Fatal("a token is in the log")
	}
	wantError(t, e.client.Post("/auth/verify", map[string]string{"token": bad}, ""), http.StatusBadRequest, "validation_error")
	if resp := e.client.Post("/auth/verify", map[string]string{"token": good}, ""); resp.Status != http.StatusOK {
		t.Fatalf("verify: %d %s", resp.Status, resp.Body)
	}
}

// After MAIL_MAX_ATTEMPTS the message is marked failed, counted and logged, and left alone.
func TestMailGivesUp(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, map[string]string{"MAIL_MAX_ATTEMPTS": "2"})
	e.smtp.Stop()
	email := randomEmail()
	e.register(email, goodPassword)
	waitFor(t, 60*time.Second, "message marked failed", func() bool {
		st, _, _ := e.outboxRow(email)
		return st == "failed"
	})
	if _, attempts, lastError := e.outboxRow(email); attempts != 2 || lastError == "" {
		t.Fatalf("failed row: %d attempts, last_error %q", attempts, lastError)
	}
	fams := scrape(t, e.admin)
	if n := counterValue(t, fams, "mail_failed_total", map[string]string{"kind": "verify"}); n != 1 {
		t.Fatalf("mail_failed_total{kind=verify} = %v", n)
	}
	if !strings.Contains(e.logs.String(), "mail delivery failed; giving up") {
		t.Fatal("no log line for the message given up")
	}
	e.smtp.Start()
	time.Sleep(300 * time.Millisecond)
	if n := len(e.smtp.To(email)); n != 0 {
		t.Fatalf("a failed message was sent (%d)", n)
	}
}

// Without SMTP_URL and with MAIL_LOG_LINKS=true (development) each message's link is logged
// and counts as sent.
func TestMailDevDefaultLogsLink(t *testing.T) {
	t.Parallel()
	logs := &apptest.LogBuffer{}
	e := envOf(t, apptest.MustNewApp(t, mailSettings("", map[string]string{"MAIL_LOG_LINKS": "true"}), logs))
	email := randomEmail()
	e.register(email, goodPassword)
	link := regexp.MustCompile(`https://app\.example\.com/verify-email#token=([A-Za-z0-9_-]{43})`)
	var tok string
	waitFor(t, 60*time.Second, "the link in the log", func() bool {
		if m := link.FindStringSubmatch(logs.String()); m != nil {
			tok = m[1]
		}
		return tok != ""
	})
	if !strings.Contains(logs.String(), "SMTP_URL is not set") {
		t.Fatal("no warning that mail is only logged")
	}
	if resp := e.client.Post("/auth/verify", map[string]string{"token": tok}, ""); resp.Status != http.StatusOK {
		t.Fatalf("verify with the logged token: %d %s", resp.Status, resp.Body)
	}
}

// Two replicas drain one outbox together: every message is sent exactly once.
func TestMailTwoReplicasSendOnce(t *testing.T) {
	t.Parallel()
	server := apptest.StartSMTP(t)
	_, dbURL := apptest.MustOpenDB(t)
	settings := mailSettings(server.URL(), map[string]string{"MAIL_BATCH_SIZE": "3", "LOG_LEVEL": "error"})
	replicas := make([]*app.App, 2)
	var queue *models.AccountStore
	for i := range replicas {
		s := apptest.NewEnv(t, apptest.Config(t, dbURL, settings), nil)
		replicas[i], queue = s.App, s.Accounts
	}
	// Queue the messages before either worker runs (an App's worker starts when it is
	// prepared, and an App takes no registration before), with the store registration uses,
	// then prepare both at once, so both workers start on the backlog together.
	const n = 30
	emails := make([]string, n)
	for i := range emails {
		emails[i] = randomEmail()
		u := &models.User{Email: emails[i], PasswordHash: "x", Status: models.StatusPendingVerification, Role: models.RoleUser}
		apptest.Must(t, queue.CreatePending(t.Context(), u, nil), "queue a verification message")
	}
	start := time.Now()
	prepared := make(chan error, len(replicas))
	for _, a := range replicas {
		go func() { prepared <- a.Prepare(t.Context()) }()
	}
	for range replicas {
		if err := <-prepared; err != nil {
			t.Fatalf("prepare: %v", err)
		}
	}
	for _, email := range emails {
		server.WaitFor(email, 1, 20*time.Second)
	}
	took := time.Since(start)
	time.Sleep(300 * time.Millisecond) // a duplicate would have had time to arrive
	for _, email := range emails {
		if got := len(server.To(email)); got != 1 {
			t.Fatalf("%d messages to %s, want exactly 1", got, email)
		}
	}
	sent := make([]float64, len(replicas))
	for i, a := range replicas {
		sent[i] = counterValue(t, scrape(t, apptest.NewAdminClient(t, a.Admin())), "mail_sent_total", map[string]string{"kind": "verify"})
	}
	if sent[0]+sent[1] != n {
		t.Fatalf("replicas sent %v, want %d in all", sent, n)
	}
	t.Logf("%d messages drained by two replicas in %s (%.1f ms each); split %v", n, took, float64(took.Milliseconds())/n, sent)
}

// A permanent refusal (5xx) is not retried: the message is marked failed after one attempt.
func TestMailPermanentRefusal(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, nil)
	e.smtp.RejectNextWith(1, 550)
	email := randomEmail()
	e.register(email, goodPassword)
	waitFor(t, 60*time.Second, "message marked failed", func() bool {
		st, _, _ := e.outboxRow(email)
		return st == "failed"
	})
	if _, attempts, lastError := e.outboxRow(email); attempts != 1 || !strings.Contains(lastError, "550") {
		t.Fatalf("failed row: %d attempts, last_error %q; want one attempt and the 550", attempts, lastError)
	}
	if n := counterValue(t, scrape(t, e.admin), "mail_failed_total", map[string]string{"kind": "verify"}); n != 1 {
		t.Fatalf("mail_failed_total{kind=verify} = %v", n)
	}
}

// TestMailRequiresSTARTTLS: smtp:// to a server whose EHLO offers no STARTTLS (as a stripping
// attacker on the path would make it) is a failed attempt, retried, and nothing reaches the
// server in plain text; readiness does not depend on mail.
func TestMailRequiresSTARTTLS(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, map[string]string{"SMTP_TLS": "required"})
	email := randomEmail()
	e.register(email, goodPassword)
	waitFor(t, 10*time.Second, "two failed attempts", func() bool {
		status, attempts, lastError := e.outboxRow(email)
		return status == "pending" && attempts >= 2 && strings.Contains(lastError, "STARTTLS")
	})
	if n := len(e.smtp.Messages()) + len(e.smtp.Rejected()); n != 0 {
		t.Fatalf("%d messages reached a server that offers no STARTTLS", n)
	}
	if resp := e.admin.Get("/readyz", ""); resp.Status != http.StatusOK {
		t.Fatalf("/readyz with mail failing: %d %s", resp.Status, resp.Body)
	}
}

// TestProcessRefusesUnsafeMailSettings: the binary does not start (exit 2, one line naming the
// setting) with no SMTP_URL unless MAIL_LOG_LINKS=true, nor with plain text to a host that is
// not loopback.
func TestProcessRefusesUnsafeMailSettings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"ErrNoSMTPURL", map[string]string{"MAIL_LOG_LINKS": "false"}, "SMTP_URL: required"},
		{"ErrPlainTextRemote", map[string]string{"SMTP_URL": "smtp://mail.example.com:25", "SMTP_TLS": "none"}, "SMTP_TLS: none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.env["DATABASE_URL"] = apptest.MustCreateDatabase(t)
			tc.env["REDIS_URL"] = apptest.RedisURL(t)
			s := apptest.StartServer(t, tc.env)
			if code := s.Wait(30 * time.Second); code != app.ExitUsage {
				t.Fatalf("exit %d, want %d:\n%s", code, app.ExitUsage, s.Log.String())
			}
			if !strings.Contains(s.Log.String(), tc.want) {
				t.Fatalf("the error does not name %q:\n%s", tc.want, s.Log.String())
			}
		})
	}
}
