package app_test

import (
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// drainResult is one request of the drain test's load.
type drainResult struct {
	start, end time.Time
	code       int
	err        error
}

// TestProcessGracefulDrain: under steady concurrent load (slow logins at bcrypt cost 12, and
// /auth/me), SIGTERM. Every request the server had accepted finishes with success, /readyz
// turns 503 as the drain starts and stays so, and the process exits 0 within SHUTDOWN_TIMEOUT.
func TestProcessGracefulDrain(t *testing.T) {
	// A ceiling, not the expected duration: the drain ends when the in-flight requests do. At
	// 5 s, logins at cost 12 (bcrypt at nice 10) on a busy machine (load ~10 on 2 cores) were
	// still running when it ran out: 503s to accepted requests and exit 1, a slow machine's
	// failure, not the service's.
	const shutdownTimeout = 60 * time.Second
	f := startFaultEnv(t, faultOptions{env: map[string]string{
		"BCRYPT_COST":          "12", // a login stays in flight for a few hundred ms
		"BCRYPT_CONCURRENCY":   "8",
		"BCRYPT_QUEUE_TIMEOUT": "30s",
		"SHUTDOWN_TIMEOUT":     shutdownTimeout.String(),
	}})
	p, email, token := f.proc, f.email, f.token

	var (
		mu      sync.Mutex
		results []drainResult
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	var inFlight, served atomic.Int64 // logins sent and not answered; requests answered 2xx
	worker := func(method, path string, body any, tok string) {
		defer wg.Done()
		untilStopped(stop, func() {
			r := drainResult{start: time.Now()}
			if path == "/auth/login" {
				inFlight.Add(1)
			}
			r.code, _, r.err = p.Do(method, p.Public+path, body, tok)
			if path == "/auth/login" {
				inFlight.Add(-1)
			}
			if r.err == nil && r.code < 300 {
				served.Add(1)
			}
			r.end = time.Now()
			mu.Lock()
			results = append(results, r)
			mu.Unlock()
			if r.err != nil && r.code == 0 {
				time.Sleep(20 * time.Millisecond) // refused: the listener is closed; don't spin
			}
		})
	}
	creds := map[string]string{"email": email, "password": goodPassword}
	for range 3 {
		wg.Add(2)
		go worker(http.MethodPost, "/auth/login", creds, "")
		go worker(http.MethodGet, "/auth/me", nil, token)
	}

	// SIGTERM once the load is really being served and a slow login is in flight (conditions: a
	// fixed sleep was too short on a busy machine, where the first answers came late).
	waitFor(t, 60*time.Second, "a few answered requests and a login in flight", func() bool {
		return served.Load() >= 6 && inFlight.Load() > 0
	})
	sigterm := time.Now()
	p.Signal(syscall.SIGTERM)
	// The admin listener closes only after the public one has drained, so /readyz can be asked
	// throughout the drain. kill(2) returns before the process has handled the signal, so the
	// very first look may still be served before readiness flips: the test asks until the admin
	// listener goes away and checks the order of the answers, not their timing.
	readyCodes := make(chan []int, 1)
	var firstUnready time.Duration // from the signal to the answer of the first 503
	go func() {
		var codes []int
		for {
			code, _, err := p.Get(p.Admin + "/readyz")
			if err != nil {
				break // the admin listener is closed: the drain is over
			}
			if code == http.StatusServiceUnavailable && firstUnready == 0 {
				firstUnready = time.Since(sigterm)
			}
			codes = append(codes, code)
			time.Sleep(10 * time.Millisecond)
		}
		readyCodes <- codes
	}()
	exit := p.Wait(shutdownTimeout + 2*time.Second) // + closing the pools
	exited := time.Now()
	close(stop)
	wg.Wait()
	codes := <-readyCodes
	flipped := slices.Index(codes, http.StatusServiceUnavailable)
	switch {
	case flipped < 0:
		t.Errorf("/readyz never answered 503 during the drain: %v", codes)
	case slices.ContainsFunc(codes[flipped:], func(c int) bool { return c != http.StatusServiceUnavailable }):
		t.Errorf("/readyz answered something else after its first 503: %v", codes)
	}
	if exit != 0 {
		t.Errorf("exit status %d, want 0", exit)
	}
	t.Logf("SIGTERM to exit: %s; /readyz answers during the drain: %d before the first 503 (at %s), %d in all",
		exited.Sub(sigterm), flipped, firstUnready, len(codes))

	// A request sent well before the signal was accepted by the server: it must succeed. One sent
	// around or after it may be refused (the listener is closed), never answered with an error.
	const acceptMargin = 200 * time.Millisecond
	var ok, drained, refused int
	for _, r := range results {
		switch {
		case r.err == nil && r.code >= 200 && r.code < 300:
			ok++
			if r.start.Before(sigterm) && r.end.After(sigterm) {
				drained++
			}
		case r.err == nil:
			t.Errorf("request sent %s after SIGTERM answered %d", r.start.Sub(sigterm), r.code)
		case r.start.Before(sigterm.Add(-acceptMargin)):
			t.Errorf("request sent %s before SIGTERM failed: %v", sigterm.Sub(r.start), r.err)
		default:
			refused++
		}
	}
	t.Logf("%d requests: %d succeeded (%d of them in flight at SIGTERM), %d not accepted", len(results), ok, drained, refused)
	if drained == 0 {
		t.Errorf("no request was in flight at SIGTERM: the test did not exercise draining")
	}
}
