package app_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/example/authapi/app/apptest"
)

// These tests run the real binary (go build) against a redis-server they start, kill, restart
// and freeze themselves, and watch what a client sees over real sockets.

// proc wraps a running binary with the requests the fault tests send.
type proc struct {
	t *testing.T
	*apptest.Server
}

func startProc(t *testing.T, env map[string]string) proc {
	t.Helper()
	return proc{t: t, Server: apptest.StartServer(t, env)}
}

func (p proc) post(path string, body any, token string) (int, string) {
	p.t.Helper()
	code, text, err := p.Do(http.MethodPost, p.Public+path, body, token)
	if err != nil {
		p.t.Fatalf("POST %s: %v", path, err)
	}
	return code, text
}

func (p proc) get(url, token string) (int, string) {
	p.t.Helper()
	code, text, err := p.Do(http.MethodGet, url, nil, token)
	if err != nil {
		p.t.Fatalf("GET %s: %v", url, err)
	}
	return code, text
}

// register creates a user and fails the test unless it answers 201.
func (p proc) register(email string) {
	p.t.Helper()
	if code, body := p.post("/auth/register", map[string]string{"email": email, "password": goodPassword}, ""); code != http.StatusCreated {
		p.t.Fatalf("register %s: %d %s", email, code, body)
	}
}

// login returns a token and fails the test unless login answers 200.
func (p proc) login(email string) string {
	p.t.Helper()
	code, body := p.post("/auth/login", map[string]string{"email": email, "password": goodPassword}, "")
	if code != http.StatusOK {
		p.t.Fatalf("login %s: %d %s", email, code, body)
	}
	var out struct{ Token string }
	if err := json.Unmarshal([]byte(body), &out); err != nil || out.Token == "" {
		p.t.Fatalf("login body %s: %v", body, err)
	}
	return out.Token
}

// waitFor polls cond every 50 ms until it holds, and returns how long that took; it fails the
// test after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < limit {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s", what, limit)
	return 0
}

// wantRedisDown asserts what a client sees while Redis cannot answer: login and /auth/me 503 in
// the contract's shape (never 200, never 500), logout 503, register still 201, /livez 200, /readyz 503
// naming redis. It returns the slowest of those answers.
func wantRedisDown(p proc, token string) time.Duration {
	p.t.Helper()
	var slowest time.Duration
	timed := func(f func()) {
		start := time.Now()
		f()
		slowest = max(slowest, time.Since(start))
	}
	email := randomEmail()
	timed(func() { p.register(email) })
	timed(func() {
		code, body := p.post("/auth/login", map[string]string{"email": email, "password": goodPassword}, "")
		if code != http.StatusServiceUnavailable || !strings.Contains(body, `"code"`) {
			p.t.Errorf("login with Redis down: %d %s, want 503 with an error body", code, body)
		}
	})
	timed(func() {
		if code, body := p.get(p.Public+"/auth/me", token); code != http.StatusServiceUnavailable {
			p.t.Errorf("/auth/me with Redis down: %d %s, want 503", code, body)
		}
	})
	timed(func() {
		if code, body := p.post("/auth/logout", nil, token); code != http.StatusServiceUnavailable {
			p.t.Errorf("logout with Redis down: %d %s, want 503", code, body)
		}
	})
	timed(func() {
		if code, body := p.get(p.Admin+"/livez", ""); code != http.StatusOK {
			p.t.Errorf("/livez with Redis down: %d %s, want 200", code, body)
		}
	})
	timed(func() {
		code, body := p.get(p.Admin+"/readyz", "")
		if code != http.StatusServiceUnavailable || !strings.Contains(body, `"redis":false`) || !strings.Contains(body, `"postgres":true`) {
			p.t.Errorf("/readyz with Redis down: %d %s, want 503 naming redis", code, body)
		}
	})
	return slowest
}

// TestProcessRedisKilledAndRestarted: Redis dies under a running binary, then comes back on the
// same port. The service fails closed meanwhile and recovers without a restart of its own.
func TestProcessRedisKilledAndRestarted(t *testing.T) {
	f := startFaultEnv(t, faultOptions{})
	p, rd, email, token := f.proc, f.redis, f.email, f.token

	rd.Kill()
	slowest := wantRedisDown(p, token)
	t.Logf("Redis killed: slowest answer %s", slowest)

	rd.Start()
	took := waitFor(t, 60*time.Second, "login after Redis restart", func() bool {
		code, _, err := p.Do(http.MethodPost, p.Public+"/auth/login", map[string]string{"email": email, "password": goodPassword}, "")
		return err == nil && code == http.StatusOK
	})
	t.Logf("recovered %s after Redis restart", took)
	if code, body := p.get(p.Admin+"/readyz", ""); code != http.StatusOK {
		t.Errorf("/readyz after recovery: %d %s", code, body)
	}
	// Redis ran without persistence, so the restart lost jwt:{jti}: the old token is refused
	// (fail closed), and a new login works.
	if code, body := p.get(p.Public+"/auth/me", token); code != http.StatusUnauthorized {
		t.Errorf("token from before a non-persistent Redis restart: %d %s, want 401", code, body)
	}
	fresh := p.login(email)
	if code, body := p.get(p.Public+"/auth/me", fresh); code != http.StatusOK {
		t.Errorf("/auth/me with a new token after recovery: %d %s", code, body)
	}
}

// TestProcessRedisPersistentRestart: with appendonly yes, live tokens survive a Redis restart.
func TestProcessRedisPersistentRestart(t *testing.T) {
	f := startFaultEnv(t, faultOptions{redisArgs: []string{"--appendonly", "yes", "--appendfsync", "always"}})
	p, rd, token := f.proc, f.redis, f.token

	rd.Kill()
	rd.Start()
	waitFor(t, 60*time.Second, "/auth/me with the old token after an AOF Redis restart", func() bool {
		code, _, err := p.Do(http.MethodGet, p.Public+"/auth/me", nil, token)
		return err == nil && code == http.StatusOK
	})
}

// TestProcessRedisHung: a Redis that accepts connections but never answers (SIGSTOP) turns into
// fast 503s, bounded by REDIS_TIMEOUT, and the service recovers after SIGCONT.
func TestProcessRedisHung(t *testing.T) {
	f := startFaultEnv(t, faultOptions{env: map[string]string{"REDIS_TIMEOUT": "500ms"}})
	p, rd, token := f.proc, f.redis, f.token

	rd.Pause()
	slowest := wantRedisDown(p, token)
	t.Logf("Redis stopped (SIGSTOP): slowest answer %s", slowest)
	if slowest > 2*time.Second {
		t.Errorf("slowest answer with a hung Redis took %s, want under 2s (REDIS_TIMEOUT 500ms)", slowest)
	}

	rd.Resume()
	took := waitFor(t, 60*time.Second, "/auth/me after SIGCONT", func() bool {
		code, _, err := p.Do(http.MethodGet, p.Public+"/auth/me", nil, token)
		return err == nil && code == http.StatusOK
	})
	t.Logf("recovered %s after SIGCONT", took)
}
