package app_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/example/authapi/app/apptest"
)

// TestProcessStartsWithoutDependencies: the binary starts while neither Postgres nor Redis
// accepts connections; it is alive but not ready, and becomes ready on its own (migrations
// applied) once both appear, with no restart.
func TestProcessStartsWithoutDependencies(t *testing.T) {
	dbURL, err := url.Parse(apptest.MustCreateDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	pg := apptest.NewGate(t, dbURL.Host)
	dbURL.Host = "127.0.0.1:" + strconv.Itoa(pg.Port)
	redisPort := apptest.FreePort(t)
	p := startProc(t, map[string]string{
		"DATABASE_URL": dbURL.String(),
		"REDIS_URL":    "redis://127.0.0.1:" + strconv.Itoa(redisPort) + "/0",
	})

	waitFor(t, 30*time.Second, "/livez 200 with no dependencies", func() bool {
		code, _, err := p.Get(p.Admin + "/livez")
		return err == nil && code == http.StatusOK
	})
	// A few rounds, so a readiness that turns 200 by mistake after the first retry is caught.
	for range 3 {
		code, body := p.get(p.Admin+"/readyz", "")
		if code != http.StatusServiceUnavailable || !strings.Contains(body, `"postgres":false`) || !strings.Contains(body, `"redis":false`) {
			t.Fatalf("/readyz with no dependencies: %d %s, want 503 naming both", code, body)
		}
		if code, body := p.post("/auth/register", map[string]string{"email": randomEmail(), "password": goodPassword}, ""); code != http.StatusServiceUnavailable {
			t.Fatalf("register with no dependencies: %d %s, want 503", code, body)
		}
		time.Sleep(300 * time.Millisecond)
	}

	pg.Open()
	apptest.StartRedisOn(t, redisPort)
	took := waitFor(t, 20*time.Second, "/readyz 200 once Postgres and Redis are up", func() bool {
		code, _, err := p.Get(p.Admin + "/readyz")
		return err == nil && code == http.StatusOK
	})
	t.Logf("ready %s after the dependencies appeared", took)
	email := randomEmail()
	p.register(email) // the migrations ran: the users table exists
	if code, body := p.get(p.Public+"/auth/me", p.login(email)); code != http.StatusOK {
		t.Errorf("/auth/me once ready: %d %s", code, body)
	}
}
