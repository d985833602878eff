package app_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/authapi/app/apptest"
)

// wantRateLimited asserts the contract's 429: code, prefix and a Retry-After within window.
func wantRateLimited(t *testing.T, resp apptest.Response, window time.Duration) {
	t.Helper()
	if msg := wantError(t, resp, http.StatusTooManyRequests, "rate_limited"); !strings.HasPrefix(msg, "rate limited: ") {
		t.Fatalf("error = %q", msg)
	}
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || secs < 1 || time.Duration(secs)*time.Second > window {
		t.Fatalf("Retry-After = %q, want 1..%v seconds", resp.Header.Get("Retry-After"), window.Seconds())
	}
}

func TestLoginRateLimitAccountAddr(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"LOGIN_MAX_FAILURES_ACCOUNT_ADDR": "3", "LOGIN_WINDOW_ACCOUNT_ADDR": "10m"})
	email := randomEmail()
	e.register(email, goodPassword)
	for i := range 3 {
		wantError(t, e.loginFrom(email, "wrong-password-1", ""), http.StatusUnauthorized, "unauthorized")
		_ = i
	}
	before := e.bcryptRuns(t)
	// Past the limit even the right password is refused, and no bcrypt work is spent on it.
	wantRateLimited(t, e.loginFrom(email, goodPassword, ""), 10*time.Minute)
	wantRateLimited(t, e.loginFrom(strings.ToUpper(email), "wrong-password-1", ""), 10*time.Minute)
	if after := e.bcryptRuns(t); after != before {
		t.Fatalf("bcrypt ran %v times past the limit", after-before)
	}
	ttl, err := e.rdb.PTTL(context.Background(), failedLoginKeys(email, "0.0.0.0")[0]).Result()
	if err != nil || ttl <= 0 || ttl > 10*time.Minute {
		t.Fatalf("counter TTL = %v, %v: counters must expire with their window", ttl, err)
	}
}

// Without TRUSTED_PROXIES the address is the socket peer: rotating a spoofed X-Forwarded-For
// does not give an attacker a fresh account+address counter.
func TestLoginRateLimitIgnoresSpoofedForwardedFor(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"LOGIN_MAX_FAILURES_ACCOUNT_ADDR": "3"})
	email := randomEmail()
	e.register(email, goodPassword)
	for range 3 {
		wantError(t, e.loginFrom(email, "wrong-password-1", randomIP()), http.StatusUnauthorized, "unauthorized")
	}
	wantRateLimited(t, e.loginFrom(email, goodPassword, randomIP()), 15*time.Minute)
}

// From a trusted proxy (app.Test's peer is 0.0.0.0) the client address comes from
// X-Forwarded-For, and each counter works on its own key.
func TestLoginRateLimitTrustedProxy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{
		"TRUSTED_PROXIES":                 "0.0.0.0",
		"LOGIN_MAX_FAILURES_ACCOUNT_ADDR": "3",
		"LOGIN_MAX_FAILURES_ACCOUNT":      "5",
		"LOGIN_MAX_FAILURES_ADDR":         "4",
	})
	ctx := context.Background()

	t.Run("ErrAccountLimitAcrossAddresses", func(t *testing.T) {
		email := randomEmail()
		e.register(email, goodPassword)
		for range 5 {
			wantError(t, e.loginFrom(email, "wrong-password-1", randomIP()), http.StatusUnauthorized, "unauthorized")
		}
		wantRateLimited(t, e.loginFrom(email, goodPassword, randomIP()), time.Hour)
	})

	t.Run("ErrAddressLimitAcrossAccounts", func(t *testing.T) {
		ip := randomIP()
		for range 4 {
			wantError(t, e.loginFrom(randomEmail(), "wrong-password-1", ip), http.StatusUnauthorized, "unauthorized")
		}
		email := randomEmail()
		e.register(email, goodPassword)
		wantRateLimited(t, e.loginFrom(email, goodPassword, ip), 15*time.Minute)
		// Another address is not affected.
		if resp := e.loginFrom(email, goodPassword, randomIP()); resp.Status != http.StatusOK {
			t.Fatalf("other address: %d %s", resp.Status, resp.Body)
		}
	})

	t.Run("OKSuccessClearsOnlyAccountAddr", func(t *testing.T) {
		email, ip := randomEmail(), randomIP()
		e.register(email, goodPassword)
		for range 2 {
			wantError(t, e.loginFrom(email, "wrong-password-1", ip), http.StatusUnauthorized, "unauthorized")
		}
		if resp := e.loginFrom(email, goodPassword, ip); resp.Status != http.StatusOK {
			t.Fatalf("login: %d %s", resp.Status, resp.Body)
		}
		keys := failedLoginKeys(email, ip)
		if n, _ := e.rdb.Exists(ctx, keys[0]).Result(); n != 0 {
			t.Fatalf("account+address counter survived a success")
		}
		for _, k := range keys[1:] {
			if n, err := e.rdb.Get(ctx, k).Int(); err != nil || n != 2 {
				t.Fatalf("%s = %d, %v; want 2 (a success must not clear it)", k, n, err)
			}
		}
	})

	// An address that logged in successfully for the account is exempt from the account counter
	// (a flood of failures from elsewhere does not lock its owner out), but not from the
	// account+address one; another address is locked out as before.
	t.Run("OKKnownClientExemptFromAccountLimit", func(t *testing.T) {
		email, home := randomEmail(), randomIP()
		e.register(email, goodPassword)
		if resp := e.loginFrom(email, goodPassword, home); resp.Status != http.StatusOK {
			t.Fatalf("login: %d %s", resp.Status, resp.Body)
		}
		for range 5 {
			wantError(t, e.loginFrom(email, "wrong-password-1", randomIP()), http.StatusUnauthorized, "unauthorized")
		}
		wantRateLimited(t, e.loginFrom(email, goodPassword, randomIP()), time.Hour)
		if resp := e.loginFrom(email, goodPassword, home); resp.Status != http.StatusOK {
			t.Fatalf("the known address is locked out with the account: %d %s", resp.Status, resp.Body)
		}
		for range 3 {
			wantError(t, e.loginFrom(email, "wrong-password-1", home), http.StatusUnauthorized, "unauthorized")
		}
		wantRateLimited(t, e.loginFrom(email, goodPassword, home), 15*time.Minute)
		ttl := e.rdb.TTL(ctx, knownClientKey(email, home)).Val()
		if ttl < 30*24*time.Hour-time.Minute || ttl > 30*24*time.Hour {
			t.Fatalf("known-client key TTL %v, want 30 days", ttl)
		}
	})

	// A proxy appends the peer it saw to X-Forwarded-For, so only the right-most entries are
	// written by trusted hops; the left-most is whatever the client sent.
	t.Run("ErrRotatedLeftmostForwardedFor", func(t *testing.T) {
		email, client := randomEmail(), randomIP()
		e.register(email, goodPassword)
		for range 3 {
			wantError(t, e.loginFrom(email, "wrong-password-1", randomIP()+", "+client), http.StatusUnauthorized, "unauthorized")
		}
		wantRateLimited(t, e.loginFrom(email, goodPassword, randomIP()+", "+client), 15*time.Minute)
		if n, _ := e.rdb.Get(ctx, failedLoginKeys(email, client)[0]).Int(); n != 3 {
			t.Fatalf("account+address counter of the real client = %d, want 3", n)
		}
	})
}

// Two instances over one database and one Redis share the counters.
func TestLoginRateLimitAcrossInstances(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t, apptest.MustCreateDatabase(t), map[string]string{"LOGIN_MAX_FAILURES_ACCOUNT_ADDR": "3"})
	newInstance := func() *apptest.Client {
		s := apptest.NewEnv(t, cfg, nil)
		s.Prepare(t) // the first instance migrates the database, the second finds it current
		return apptest.NewClient(t, s.App.Public())
	}
	one, two := newInstance(), newInstance()
	email := randomEmail()
	body := func(password string) map[string]string {
		return map[string]string{"email": email, "password": password}
	}
	if resp := one.Post("/auth/register", body(goodPassword), ""); resp.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", resp.Status, resp.Body)
	}
	for _, c := range []*apptest.Client{one, two, one} {
		wantError(t, c.Post("/auth/login", body("wrong-password-1"), ""), http.StatusUnauthorized, "unauthorized")
	}
	wantRateLimited(t, two.Post("/auth/login", body(goodPassword), ""), 15*time.Minute)
	wantRateLimited(t, one.Post("/auth/login", body(goodPassword), ""), 15*time.Minute)
}

// Concurrent attempts must not all pass the check before any failure is counted: at most the
// limit of wrong passwords is ever compared.
func TestLoginRateLimitConcurrent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"LOGIN_MAX_FAILURES_ACCOUNT_ADDR": "5", "BCRYPT_CONCURRENCY": "64"})
	email := randomEmail()
	e.register(email, goodPassword)
	const n = 40
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			statuses <- e.loginFrom(email, "wrong-password-1", "").Status
		}()
	}
	close(start)
	wg.Wait()
	close(statuses)
	counts := map[int]int{}
	for s := range statuses {
		counts[s]++
	}
	if counts[http.StatusUnauthorized] > 5 || counts[http.StatusUnauthorized]+counts[http.StatusTooManyRequests] != n {
		t.Fatalf("statuses %v: want at most 5 × 401 and the rest 429", counts)
	}
}
