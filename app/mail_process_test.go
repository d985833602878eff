package app_test

import (
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/example/authapi/app/apptest"
)

// TestProcessMailOutboxSurvivesRestart: the real binary queues verification mail while the SMTP
// server is down and is stopped (SIGTERM) with the messages undelivered; a new process on the
// same database delivers each of them once when the server is back.
func TestProcessMailOutboxSurvivesRestart(t *testing.T) {
	server := apptest.StartSMTP(t)
	server.Stop()
	env := mailSettings(server.URL(), map[string]string{
		"DATABASE_URL": apptest.MustCreateDatabase(t),
		"REDIS_URL":    apptest.RedisURL(t),
		"LOG_LEVEL":    "warn",
	})
	first := startProc(t, env)
	first.WaitReady(30 * time.Second)
	emails := []string{randomEmail(), randomEmail(), randomEmail()}
	for _, email := range emails {
		first.register(email)
	}
	waitFor(t, 60*time.Second, "a failed delivery attempt", func() bool {
		return strings.Contains(first.Log.String(), "mail delivery failed; will retry")
	})
	first.Signal(syscall.SIGTERM)
	if code := first.Wait(20 * time.Second); code != 0 {
		t.Fatalf("first process exited %d:\n%s", code, first.Log.String())
	}

	server.Start()
	second := startProc(t, env)
	back := time.Now()
	second.WaitReady(30 * time.Second)
	for _, email := range emails {
		m := server.WaitFor(email, 1, 20*time.Second)[0]
		t.Logf("%s delivered by the new process %s after it started", email, m.At.Sub(back))
		if code, body := second.post("/auth/verify", map[string]string{"token": m.Token()}, ""); code != http.StatusOK {
			t.Fatalf("verify through the new process: %d %s", code, body)
		}
	}
	time.Sleep(500 * time.Millisecond) // a duplicate would have had time to arrive
	for _, email := range emails {
		if n := len(server.To(email)); n != 1 {
			t.Fatalf("%d messages to %s, want 1", n, email)
		}
	}
}
