package app_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestProcessPostgresOutage: Postgres goes away under a running binary (new connections refused,
// pooled ones cut) while registrations keep coming. Meanwhile the API answers 503 with the
// contract's body, never 500; it recovers on its own when Postgres returns; and every
// registration that was answered 201 is in the database afterwards.
func TestProcessPostgresOutage(t *testing.T) {
	f := startFaultEnv(t, faultOptions{gatePostgres: true, env: map[string]string{"DB_TIMEOUT": "1s"}})
	p, pg, email, token := f.proc, f.pg, f.email, f.token

	// Registrations all along: before, during and after the outage.
	var (
		mu      sync.Mutex
		created []string
		counts  = map[int]int{}
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		untilStopped(stop, func() {
			e := randomEmail()
			code, _, err := p.Do(http.MethodPost, p.Public+"/auth/register", map[string]string{"email": e, "password": goodPassword}, "")
			mu.Lock()
			if err == nil {
				counts[code]++
				if code == http.StatusCreated {
					created = append(created, e)
				}
			} else {
				counts[-1]++
			}
			mu.Unlock()
			time.Sleep(10 * time.Millisecond)
		})
	}()

	// Conditions, not sleeps: on a busy machine a registration takes longer than any fixed pause.
	count := func(status int) int {
		mu.Lock()
		defer mu.Unlock()
		return counts[status]
	}
	waitFor(t, 60*time.Second, "a registration answered 201 before the outage", func() bool { return count(http.StatusCreated) > 0 })
	pg.Close()
	for _, r := range []struct {
		method, url, token string
		body               any
	}{
		{http.MethodPost, p.Public + "/auth/register", "", map[string]string{"email": randomEmail(), "password": goodPassword}},
		{http.MethodPost, p.Public + "/auth/login", "", map[string]string{"email": email, "password": goodPassword}},
		{http.MethodGet, p.Public + "/auth/me", token, nil},
	} {
		start := time.Now()
		code, body, err := p.Do(r.method, r.url, r.body, r.token)
		if err != nil || code != http.StatusServiceUnavailable || !strings.Contains(body, `"code"`) {
			t.Errorf("%s %s with Postgres down: %d %s %v, want 503 with an error body", r.method, r.url, code, body, err)
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("%s %s with Postgres down took %s, want well under 3s (DB_TIMEOUT 1s)", r.method, r.url, took)
		}
	}
	if code, body := p.get(p.Admin+"/livez", ""); code != http.StatusOK {
		t.Errorf("/livez with Postgres down: %d %s", code, body)
	}
	if code, body := p.get(p.Admin+"/readyz", ""); code != http.StatusServiceUnavailable || !strings.Contains(body, `"postgres":false`) {
		t.Errorf("/readyz with Postgres down: %d %s, want 503 naming postgres", code, body)
	}
	waitFor(t, 60*time.Second, "a registration of the load answered 503 during the outage", func() bool { return count(http.StatusServiceUnavailable) > 0 })

	createdBefore := count(http.StatusCreated)
	pg.Open()
	took := waitFor(t, 60*time.Second, "/auth/me after Postgres returned", func() bool {
		code, _, err := p.Do(http.MethodGet, p.Public+"/auth/me", nil, token)
		return err == nil && code == http.StatusOK
	})
	t.Logf("recovered %s after Postgres returned", took)
	waitFor(t, 60*time.Second, "a registration answered 201 after the outage", func() bool { return count(http.StatusCreated) > createdBefore })
	close(stop)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	t.Logf("registrations by status (-1 = transport error): %v", counts)
	if counts[http.StatusInternalServerError] > 0 || counts[-1] > 0 {
		t.Errorf("registrations answered 500 or failed in transport: %v", counts)
	}
	if counts[http.StatusServiceUnavailable] == 0 || counts[http.StatusCreated] == 0 {
		t.Errorf("the load did not see both the outage and normal service: %v", counts)
	}
	db := mustOpenDirect(t, f.dbURL)
	for _, e := range created {
		var n int
		if err := db.QueryRowContext(context.Background(), "SELECT count(*) FROM users WHERE email = ?", e).Scan(&n); err != nil {
			t.Fatalf("look up %s: %v", e, err)
		}
		if n != 1 {
			t.Errorf("registration of %s answered 201 but %d rows exist", e, n)
		}
	}
}
