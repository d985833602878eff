package app_test

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/authapi/app/apptest"
)

// With one bcrypt slot and a 1 ms queue, a burst of logins gets 503s with Retry-After instead
// of queueing, while /auth/me and /healthz, which hash nothing, keep answering.
func TestBcryptAdmission(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{
		"BCRYPT_CONCURRENCY":   "1",
		"BCRYPT_QUEUE_TIMEOUT": "1ms",
		"BCRYPT_COST":          "10", // long enough (~70 ms) that a burst must overlap
		// Attempts in flight count against the login limits; keep those out of this test.
		"LOGIN_MAX_FAILURES_ACCOUNT_ADDR": "1000",
	})
	email, token := e.newUser()

	const n = 12
	responses := make(chan apptest.Response, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			responses <- e.loginFrom(email, goodPassword, "")
		}()
	}
	close(start)
	// Routes that need no bcrypt answer during the flood.
	for range 5 {
		if resp := e.client.Get("/auth/me", token); resp.Status != http.StatusOK {
			t.Errorf("/auth/me during the flood: %d %s", resp.Status, resp.Body)
		}
		if resp := e.client.Get("/healthz", ""); resp.Status != http.StatusOK {
			t.Errorf("/healthz during the flood: %d %s", resp.Status, resp.Body)
		}
	}
	wg.Wait()
	close(responses)
	counts := map[int]int{}
	for resp := range responses {
		counts[resp.Status]++
		if resp.Status != http.StatusServiceUnavailable {
			continue
		}
		if msg := wantError(t, resp, http.StatusServiceUnavailable, "unavailable"); !strings.HasPrefix(msg, "unavailable: ") {
			t.Fatalf("503 error = %q", msg)
		}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 {
			t.Fatalf("503 without a Retry-After: %q", resp.Header.Get("Retry-After"))
		}
	}
	if counts[http.StatusServiceUnavailable] == 0 || counts[http.StatusOK]+counts[http.StatusServiceUnavailable] != n {
		t.Fatalf("statuses %v: want some 503 and the rest 200", counts)
	}
	if refused := e.metric(t, `bcrypt_queue_wait_seconds_count{admitted="false"}`); refused != float64(counts[http.StatusServiceUnavailable]) {
		t.Fatalf("refused bcrypt waits = %v, want %d", refused, counts[http.StatusServiceUnavailable])
	}
	// A turned-away login is not a failed login: it did not count against the limits.
	e.login(email, goodPassword)
}

// Unknown email and wrong password get the same status, body and headers, and both go through
// one bcrypt slot (TestHasherDummy checks that the slot is spent on a real comparison against
// a hash of the configured cost), so neither answers faster.
func TestLoginEnumeration(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	email := randomEmail()
	e.register(email, goodPassword)
	type answer struct {
		status int
		body   map[string]any
		header http.Header
		bcrypt float64
	}
	try := func(email, password string) answer {
		before := e.bcryptRuns(t)
		resp := e.loginFrom(email, password, "")
		body := resp.JSON(t)
		delete(body, "request_id")
		h := resp.Header.Clone()
		h.Del("X-Request-Id")
		h.Del("Date")
		return answer{resp.Status, body, h, e.bcryptRuns(t) - before}
	}
	wrong := try(email, "wrong-password-1")
	unknown := try(randomEmail(), "wrong-password-1")
	if wrong.status != http.StatusUnauthorized || wrong.status != unknown.status {
		t.Fatalf("status: wrong password %d, unknown email %d", wrong.status, unknown.status)
	}
	if wrong.body["error"] != unknown.body["error"] || wrong.body["code"] != unknown.body["code"] || len(wrong.body) != len(unknown.body) {
		t.Fatalf("bodies differ: %v vs %v", wrong.body, unknown.body)
	}
	for k := range wrong.header {
		if wrong.header.Get(k) != unknown.header.Get(k) {
			t.Fatalf("header %s: %q vs %q", k, wrong.header.Get(k), unknown.header.Get(k))
		}
	}
	if len(wrong.header) != len(unknown.header) {
		t.Fatalf("headers differ: %v vs %v", wrong.header, unknown.header)
	}
	if wrong.bcrypt != 1 || unknown.bcrypt != 1 {
		t.Fatalf("bcrypt slots taken: wrong password %v, unknown email %v; want 1 each", wrong.bcrypt, unknown.bcrypt)
	}
}

// An email that exists already is a conflict under any load, found before bcrypt is spent on
// it: with the one bcrypt slot held by a flood of logins and a 1 ms queue, a batch of taken
// emails still answers 409-per-item (never the 503 a refused bcrypt wait gives), and a batch of
// taken emails alone waits for no slot at all.
func TestBatchExistingEmailUnderLoad(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{
		"BCRYPT_CONCURRENCY":              "1",
		"BCRYPT_QUEUE_TIMEOUT":            "1ms",
		"BCRYPT_COST":                     "10",
		"LOGIN_MAX_FAILURES_ACCOUNT_ADDR": "100000",
		"LOGIN_MAX_FAILURES_ACCOUNT":      "100000",
		"LOGIN_MAX_FAILURES_ADDR":         "100000",
	})
	admin := e.newAdmin()
	email, _ := e.newUser()
	other := randomEmail()
	e.register(other, goodPassword)
	taken := []any{
		map[string]string{"email": email, "password": goodPassword},
		map[string]string{"email": strings.ToUpper(other), "password": goodPassword},
	}
	wantConflicts := func(t *testing.T, resp apptest.Response) {
		t.Helper()
		if resp.Status != http.StatusOK {
			t.Fatalf("batch of taken emails: %d %s", resp.Status, resp.Body)
		}
		var out struct {
			Created []any    `json:"created"`
			Errors  []string `json:"errors"`
		}
		resp.Decode(t, &out)
		if len(out.Created) != 0 || len(out.Errors) != len(taken) {
			t.Fatalf("created %v, errors %q", out.Created, out.Errors)
		}
		for _, msg := range out.Errors {
			if msg != "conflict: email already exists" {
				t.Fatalf("errors %q, want every one a conflict", out.Errors)
			}
		}
	}

	t.Run("NoBcryptSpent", func(t *testing.T) {
		before := e.metric(t, "bcrypt_queue_wait_seconds_count")
		wantConflicts(t, e.client.Post("/users/batch", taken, admin))
		if after := e.metric(t, "bcrypt_queue_wait_seconds_count"); after != before {
			t.Fatalf("bcrypt waits went from %v to %v for a batch of taken emails", before, after)
		}
	})

	t.Run("ConflictWhileSlotsExhausted", func(t *testing.T) {
		refusedBefore := e.metric(t, `bcrypt_queue_wait_seconds_count{admitted="false"}`)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
						e.loginFrom(email, goodPassword, "")
					}
				}
			}()
		}
		defer func() { close(stop); wg.Wait() }()
		// Wait (up to a generous ceiling) until the flood is really turning bcrypt waits away,
		// so the batches below meet exhausted slots whatever the machine's speed.
		deadline := time.Now().Add(60 * time.Second)
		for e.metric(t, `bcrypt_queue_wait_seconds_count{admitted="false"}`) == refusedBefore {
			if time.Now().After(deadline) {
				t.Fatal("the login flood never exhausted the bcrypt slot")
			}
			time.Sleep(10 * time.Millisecond)
		}
		for range 10 {
			wantConflicts(t, e.client.Post("/users/batch", taken, admin))
		}
	})
}
