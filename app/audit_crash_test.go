package app_test

import (
	"context"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/example/authapi/app"
	"github.com/example/authapi/app/apptest"
	"github.com/example/authapi/config"
)

// TestAuditEventSurvivesCrash: the process is SIGKILLed right after it answered a failed login
// and a logout; the events those answers stand for are in the trail afterwards (they are
// written before the answer, in the change's transaction when there is one), and a restarted
// process serves them.
func TestAuditEventSurvivesCrash(t *testing.T) {
	t.Parallel()
	dbURL := apptest.MustCreateDatabase(t)
	env := map[string]string{"DATABASE_URL": dbURL, "REDIS_URL": apptest.RedisURL(t)}
	p := startProc(t, env)
	p.WaitReady(30 * time.Second)
	email := randomEmail()
	p.register(email)
	token := p.login(email)
	if code, body := p.post("/auth/login", map[string]string{"email": email, "password": "wrong-password-1"}, ""); code != http.StatusUnauthorized {
		t.Fatalf("bad login: %d %s", code, body)
	}
	if code, body := p.post("/auth/logout", nil, token); code != http.StatusNoContent {
		t.Fatalf("logout: %d %s", code, body)
	}
	p.Signal(syscall.SIGKILL)
	p.Wait(10 * time.Second)

	db := app.OpenDB(config.DB{URL: dbURL, MaxConnections: 2, QueryTimeout: 10 * time.Second})
	defer db.Close()
	var failed, loggedOut int
	err := db.QueryRowContext(context.Background(), `SELECT
		count(*) FILTER (WHERE e.type = 'login.failed' AND e.details->>'reason' = 'bad_password'),
		count(*) FILTER (WHERE e.type = 'logout')
		FROM events e JOIN users u ON u.id = e.user_id WHERE u.email = ?`, email).Scan(&failed, &loggedOut)
	if err != nil {
		t.Fatal(err)
	}
	if failed != 1 || loggedOut != 1 {
		t.Fatalf("after the crash: %d login.failed, %d logout events; want 1 and 1", failed, loggedOut)
	}
	again := startProc(t, env)
	again.WaitReady(30 * time.Second)
	if code := again.me(token); code != http.StatusUnauthorized {
		t.Fatalf("the logged-out token answers %d after the crash and restart", code)
	}
}
