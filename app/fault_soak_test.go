package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestProcessSoak runs a mixed workload (register, login, me, list, logout) at a steady rate
// against the real binary for SOAK_DURATION (5 s when unset: the short version that runs with
// every `just test`; `just soak` runs it for 2 minutes), then reports the errors (must be 0),
// latency percentiles, and the process RSS at start and end (must not grow without bound).
func TestProcessSoak(t *testing.T) {
	duration := 5 * time.Second
	if v := os.Getenv("SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("SOAK_DURATION: %v", err)
		}
		duration = d
	}
	rate := 40 // workload rounds per second, 5 requests each
	if v := os.Getenv("SOAK_RATE"); v != "" {
		if _, err := fmt.Sscan(v, &rate); err != nil || rate < 1 {
			t.Fatalf("SOAK_RATE: %q", v)
		}
	}

	f := startFaultEnv(t, faultOptions{env: map[string]string{"BCRYPT_CONCURRENCY": "4", "BCRYPT_QUEUE_TIMEOUT": "10s"}})
	p := f.proc
	db := mustOpenDirect(t, f.dbURL)
	if _, err := db.ExecContext(context.Background(), "UPDATE users SET role = 'admin' WHERE email = ?", f.email); err != nil {
		t.Fatalf("promote: %v", err)
	}
	adminToken := p.login(f.email) // the role is read at login

	var (
		mu        sync.Mutex
		latencies = map[string][]time.Duration{}
		errs      = map[string]int{}
	)
	call := func(name, method, path string, body any, token string, want int) string {
		start := time.Now()
		code, text, err := p.Do(method, p.Public+path, body, token)
		took := time.Since(start)
		mu.Lock()
		defer mu.Unlock()
		latencies[name] = append(latencies[name], took)
		if err != nil || code != want {
			errs[name]++
			if errs[name] <= 3 {
				t.Errorf("%s: %d %s %v, want %d", name, code, text, err, want)
			}
		}
		return text
	}
	round := func() {
		email := randomEmail()
		creds := map[string]string{"email": email, "password": goodPassword}
		call("register", http.MethodPost, "/auth/register", creds, "", http.StatusCreated)
		var out struct{ Token string }
		text := call("login", http.MethodPost, "/auth/login", creds, "", http.StatusOK)
		if json.Unmarshal([]byte(text), &out) != nil || out.Token == "" {
			return // a failed login is already counted and reported by call
		}
		call("me", http.MethodGet, "/auth/me", nil, out.Token, http.StatusOK)
		call("list", http.MethodGet, "/users?per_page=20", nil, adminToken, http.StatusOK)
		call("logout", http.MethodPost, "/auth/logout", nil, out.Token, http.StatusNoContent)
	}

	rssStart, err := p.RSS()
	if err != nil {
		t.Fatalf("RSS: %v", err)
	}
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(rate))
	deadline := time.After(duration)
	rounds := 0
loop:
	for {
		select {
		case <-deadline:
			break loop
		case <-tick.C:
			rounds++
			wg.Add(1)
			go func() { defer wg.Done(); round() }()
		}
	}
	tick.Stop()
	wg.Wait()
	rssEnd, err := p.RSS()
	if err != nil {
		t.Fatalf("RSS: %v", err)
	}

	total := 0
	for name, ls := range latencies {
		slices.Sort(ls)
		total += len(ls)
		pct := func(q float64) time.Duration { return ls[int(q*float64(len(ls)-1))].Round(10 * time.Microsecond) }
		t.Logf("soak %-8s n=%-6d errors=%-3d p50=%-9s p95=%-9s p99=%-9s max=%s", name, len(ls), errs[name], pct(.5), pct(.95), pct(.99), ls[len(ls)-1].Round(10*time.Microsecond))
	}
	t.Logf("soak: %s at %d rounds/s: %d rounds, %d requests, RSS %.1f MiB at start, %.1f MiB at end",
		duration, rate, rounds, total, float64(rssStart)/(1<<20), float64(rssEnd)/(1<<20))
	// Bounded growth: pools, caches and the heap settle within seconds; a leak of one request's
	// worth of memory per request would pass 64 MiB long before the end of a 2-minute soak.
	if rssEnd > 2*rssStart+64<<20 {
		t.Errorf("RSS grew from %d to %d bytes", rssStart, rssEnd)
	}
}
