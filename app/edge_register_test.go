package app_test

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/example/authapi/app/apptest"
)

// registerFrom posts a registration with X-Forwarded-For set to xff.
func (e *env) registerFrom(email, xff string) apptest.Response {
	e.t.Helper()
	return e.client.Do(apptest.Request{
		Method: http.MethodPost, Path: "/auth/register",
		Body:   map[string]string{"email": email, "password": goodPassword},
		Header: map[string]string{"X-Forwarded-For": xff},
	})
}

// Registrations are limited per client address, in Redis, so the limit holds across
// instances. A 409 counts (it tells whether an email has an account); a 400 does not.
func TestRegisterRateLimit(t *testing.T) {
	t.Parallel()
	limits := map[string]string{
		"TRUSTED_PROXIES":       "0.0.0.0", // app.Test's peer: the address comes from X-Forwarded-For
		"REGISTER_MAX_PER_ADDR": "3",
		"REGISTER_WINDOW":       "10m",
	}
	e := newEnv(t, limits)
	other := newEnv(t, limits) // a second instance on the same Redis
	addr := randomIP()

	for range 2 {
		wantError(t, e.client.Do(apptest.Request{Method: http.MethodPost, Path: "/auth/register",
			Body: map[string]string{"email": "not-an-email", "password": goodPassword}, Header: map[string]string{"X-Forwarded-For": addr}}),
			http.StatusBadRequest, "validation_error")
	}
	email := randomEmail()
	if resp := e.registerFrom(email, addr); resp.Status != http.StatusCreated {
		t.Fatalf("first registration: %d %s", resp.Status, resp.Body)
	}
	wantError(t, e.registerFrom(email, addr), http.StatusConflict, "conflict")
	if resp := other.registerFrom(randomEmail(), addr); resp.Status != http.StatusCreated {
		t.Fatalf("third registration, other instance: %d %s", resp.Status, resp.Body)
	}
	for _, inst := range []*env{e, other} {
		wantRateLimited(t, inst.registerFrom(randomEmail(), addr), 10*time.Minute)
	}
	// Another address is not affected.
	if resp := e.registerFrom(randomEmail(), randomIP()); resp.Status != http.StatusCreated {
		t.Fatalf("registration from another address: %d %s", resp.Status, resp.Body)
	}
}

// Logins go first for bcrypt slots: with one slot and a queue of registrations waiting for
// it, a login waits for the hash that is running, not for the queue. Measured in registrations
// that finish while the login waits, so the machine's speed does not matter.
func TestLoginBeforeRegisterForBcrypt(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{
		"BCRYPT_CONCURRENCY": "1",
		"BCRYPT_COST":        "8", // each hash long enough (~20 ms, more on a busy machine) to queue
		// At normal priority, so a machine busy with other work (or -race) does not starve the
		// hashes; the order of the queue is what this test is about. No 503 however long it takes.
		"BCRYPT_NICE":          "0",
		"BCRYPT_QUEUE_TIMEOUT": "1m",
	})
	email := randomEmail()
	e.register(email, goodPassword)

	const flood = 12
	var done atomic.Int32
	var wg sync.WaitGroup
	for range flood {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp := e.registerFrom(randomEmail(), ""); resp.Status != http.StatusCreated {
				t.Errorf("register during the flood: %d %s", resp.Status, resp.Body)
			}
			done.Add(1)
		}()
	}
	// Wait until the flood is queued on the slot: the first registrations are through.
	deadline := time.Now().Add(30 * time.Second)
	for done.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	atSend := done.Load()
	e.login(email, goodPassword)
	during := done.Load() - atSend
	wg.Wait()
	t.Logf("registrations finished while the login waited: %d (of %d queued)", during, flood-atSend)
	if flood-atSend < 6 {
		t.Fatalf("only %d registrations were still queued: the flood did not queue", flood-atSend)
	}
	// With logins first: the hash running when the login arrives, a registration already past
	// its hash (inserting), and on a busy machine one that hashed while the login finished its
	// own Postgres and Redis work. Queued behind the flood (first come, first served) it would
	// be every queued registration: at least 6 here.
	if during > 4 {
		t.Fatalf("%d registrations finished while the login waited: it queued behind them", during)
	}
}
