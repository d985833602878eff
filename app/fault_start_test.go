package app_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
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

// TestProcessLogLevelsAndStopped: /readyz's 503s while the service starts (here: Postgres not
// yet reachable) are logged as information, not as errors; after SIGTERM the last line of the
// log says the service has stopped.
func TestProcessLogLevelsAndStopped(t *testing.T) {
	t.Parallel()
	dbURL, err := url.Parse(apptest.MustCreateDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	pg := apptest.NewGate(t, dbURL.Host)
	dbURL.Host = "127.0.0.1:" + strconv.Itoa(pg.Port)
	p := startProc(t, map[string]string{
		"DATABASE_URL": dbURL.String(),
		"REDIS_URL":    apptest.RedisURL(t),
		"LOG_LEVEL":    "info",
	})
	notReady := 0
	waitFor(t, 60*time.Second, "two /readyz 503s while starting", func() bool {
		if code, _, err := p.Get(p.Admin + "/readyz"); err == nil && code == http.StatusServiceUnavailable {
			notReady++
		}
		return notReady >= 2
	})
	pg.Open()
	p.WaitReady(60 * time.Second)
	p.Signal(syscall.SIGTERM)
	if code := p.Wait(60 * time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}

	lines := strings.Split(strings.TrimSpace(p.Log.String()), "\n")
	readyzLines := 0
	for _, line := range lines {
		if strings.Contains(line, "path=/readyz") && strings.Contains(line, "status=503") {
			readyzLines++
			if !strings.Contains(line, "level=INFO") {
				t.Errorf("a /readyz 503 while starting is not logged at INFO: %s", line)
			}
		}
		if strings.Contains(line, "level=ERROR") {
			t.Errorf("an error logged by a clean start and stop: %s", line)
		}
	}
	if readyzLines < notReady {
		t.Errorf("%d /readyz 503 lines in the log, want at least %d", readyzLines, notReady)
	}
	if last := lines[len(lines)-1]; !strings.Contains(last, "level=INFO") || !strings.Contains(last, "msg=stopped") {
		t.Errorf("the last log line does not say the service stopped: %q", last)
	}
}
