package app_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/example/authapi/app/apptest"
)

// mailEnv is a test service whose delivery worker sends to a real SMTP server on loopback,
// polling every 50 ms and retrying after 100..400 ms, so the tests stay short.
type mailEnv struct {
	*env
	smtp *apptest.SMTPServer
	logs *apptest.LogBuffer
}

// mailSettings are the fast worker settings of the mail tests, then overrides.
func mailSettings(smtpURL string, overrides map[string]string) map[string]string {
	values := map[string]string{
		"SMTP_URL":           smtpURL,
		"LOG_LEVEL":          "info",
		"MAIL_POLL_INTERVAL": "50ms",
		"MAIL_RETRY_BASE":    "100ms",
		"MAIL_RETRY_MAX":     "400ms",
		"MAIL_SEND_TIMEOUT":  "5s",
		"PUBLIC_BASE_URL":    "https://app.example.com",
		// Every in-process request comes from one address.
		"MAIL_REQUEST_MAX_PER_ADDR": "1000000",
	}
	if smtpURL != "" {
		values["SMTP_TLS"] = "none" // StartSMTP's server is plain text on loopback
	}
	for k, v := range overrides {
		values[k] = v
	}
	return values
}

func newMailEnv(t *testing.T, overrides map[string]string) *mailEnv {
	t.Helper()
	server := apptest.StartSMTP(t)
	logs := &apptest.LogBuffer{}
	// MustNewApp prepares the App as Run does, which starts its mail worker.
	e := envOf(t, apptest.MustNewApp(t, mailSettings(server.URL(), overrides), logs))
	return &mailEnv{env: e, smtp: server, logs: logs}
}

// token waits for the n-th message to email and returns its token.
func (e *mailEnv) token(email string, n int) string {
	e.t.Helper()
	msgs := e.smtp.WaitFor(email, n, 60*time.Second)
	tok := msgs[n-1].Token()
	if tok == "" {
		e.t.Fatalf("message %d to %s has no token:\n%s", n, email, msgs[n-1].Text)
	}
	return tok
}

// settled waits until the outbox has nothing pending: every message is sent, dropped or failed.
func (e *mailEnv) settled() {
	e.t.Helper()
	waitFor(e.t, 60*time.Second, "outbox drained", func() bool {
		var n int
		err := e.db.NewRaw("SELECT count(*) FROM mail_outbox WHERE status = 'pending'").Scan(context.Background(), &n)
		return err == nil && n == 0
	})
}

// me returns the status of GET /auth/me with token.
func (e *env) meStatus(token string) int {
	e.t.Helper()
	return e.client.Get("/auth/me", token).Status
}

// status returns the user's status word from GET /auth/me.
func (e *env) statusOf(token string) string {
	e.t.Helper()
	resp := e.client.Get("/auth/me", token)
	if resp.Status != http.StatusOK {
		e.t.Fatalf("/auth/me: %d %s", resp.Status, resp.Body)
	}
	return resp.JSON(e.t)["status"].(map[string]any)["status"].(string)
}
