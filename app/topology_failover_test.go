package app_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/example/authapi/app/apptest"
)

// TestRedisClusterFailover: on a 6-node Redis Cluster the token flow and limits work; then a
// primary is killed under a steady load of /auth/me and logins.
func TestRedisClusterFailover(t *testing.T) {
	c := apptest.StartCluster(t)
	p := startProc(t, topologyEnv(t, apptest.MustCreateDatabase(t), map[string]string{"REDIS_CLUSTER_ADDRS": c.Addrs()}))
	p.WaitReady(30 * time.Second)
	wantTokenFlow(t, p)
	failover(t, "cluster", p, c.WaitReplicated, func(tokens []string) {
		// The primary of the first token's key: its holder must be found on the promoted replica.
		victim := c.PrimaryOf("jwt:" + jtiOf(t, tokens[0]))
		victim.Kill()
	})
}

// TestRedisSentinelFailover: the same with a primary, a replica and three Sentinels.
func TestRedisSentinelFailover(t *testing.T) {
	s := apptest.StartSentinel(t)
	p := startProc(t, topologyEnv(t, apptest.MustCreateDatabase(t), map[string]string{
		"REDIS_SENTINEL_ADDRS": s.Addrs(), "REDIS_SENTINEL_MASTER": apptest.SentinelMaster}))
	p.WaitReady(30 * time.Second)
	wantTokenFlow(t, p)
	failover(t, "sentinel", p, func(d time.Duration) { s.Primary.WaitReplicated(d) }, func([]string) { s.Primary.Kill() })
}

// failover issues tokens, waits until the replicas have them (replication is asynchronous: a
// write acknowledged just before a primary dies can be lost), then runs /auth/me and logins in
// a loop while kill takes a primary down. It asserts: no answer but 200 or 503 (never 500, no
// transport error), 503s for at most maxOutage, recovery without a restart, every token issued
// before the kill still accepted, and /readyz 503 during the outage and 200 after. It logs the
// 503 window, the number the README quotes.
func failover(t *testing.T, kind string, p proc, waitReplicated func(time.Duration), kill func(tokens []string)) {
	const maxOutage = 10 * time.Second
	var emails, tokens []string
	for range 4 {
		e := randomEmail()
		p.register(e)
		emails = append(emails, e)
		for range 5 {
			tokens = append(tokens, p.login(e))
		}
	}
	waitReplicated(10 * time.Second)

	type result struct {
		at   time.Time
		code int // -1: transport error
	}
	var (
		mu        sync.Mutex
		results   []result
		readyz    []result
		bad       []string
		stop      = make(chan struct{})
		wg        sync.WaitGroup
		newTokens []string
	)
	record := func(list *[]result, code int, what, body string) {
		mu.Lock()
		defer mu.Unlock()
		*list = append(*list, result{time.Now(), code})
		if code != http.StatusOK && code != http.StatusServiceUnavailable && len(bad) < 10 {
			bad = append(bad, what+": "+http.StatusText(code)+" "+body)
		}
	}
	do := func(method, url string, body any, token string) (int, string) {
		code, text, err := p.Do(method, url, body, token)
		if err != nil {
			return -1, err.Error()
		}
		return code, text
	}
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				code, body := do(http.MethodGet, p.Public+"/auth/me", nil, tokens[i%len(tokens)])
				record(&results, code, "/auth/me", body)
			}
		}()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			code, body := do(http.MethodPost, p.Public+"/auth/login", map[string]string{"email": emails[i%len(emails)], "password": goodPassword}, "")
			record(&results, code, "login", body)
			if code == http.StatusOK {
				mu.Lock()
				newTokens = append(newTokens, tokenOf(body))
				mu.Unlock()
			}
		}
	}()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			code, body := do(http.MethodGet, p.Admin+"/readyz", nil, "")
			record(&readyz, code, "/readyz", body)
		}
	}()

	time.Sleep(time.Second)
	killedAt := time.Now()
	kill(tokens)
	// Recovered: /readyz went 503 and back to 200, and the last two seconds held no 503.
	waitFor(t, 30*time.Second, kind+" failover: recovery", func() bool {
		mu.Lock()
		defer mu.Unlock()
		sawDown, lastDown := false, time.Time{}
		for _, r := range readyz {
			if r.at.After(killedAt) && r.code != http.StatusOK {
				sawDown = true
			}
		}
		for _, r := range append(append([]result{}, results...), readyz...) {
			if r.at.After(killedAt) && r.code != http.StatusOK {
				lastDown = r.at
			}
		}
		up := len(readyz) > 0 && readyz[len(readyz)-1].code == http.StatusOK
		return sawDown && up && time.Since(lastDown) > 2*time.Second
	})
	close(stop)
	wg.Wait()

	var first, last time.Time
	total, unavailable := 0, 0
	for _, r := range results {
		total++
		if r.code == http.StatusServiceUnavailable {
			unavailable++
			if first.IsZero() {
				first = r.at
			}
			last = r.at
		}
	}
	var readyFirst, readyLast time.Time
	for _, r := range readyz {
		if r.code != http.StatusOK && r.at.After(killedAt) {
			if readyFirst.IsZero() {
				readyFirst = r.at
			}
			readyLast = r.at
		}
	}
	window := last.Sub(first)
	if first.IsZero() {
		window = 0
	}
	t.Logf("%s failover: API 503 window %.2fs (first 503 at +%.2fs after the kill, last at +%.2fs), %d of %d requests 503; /readyz not ready from +%.2fs to +%.2fs",
		kind, window.Seconds(), first.Sub(killedAt).Seconds(), last.Sub(killedAt).Seconds(), unavailable, total,
		readyFirst.Sub(killedAt).Seconds(), readyLast.Sub(killedAt).Seconds())
	if len(bad) > 0 {
		t.Errorf("%s failover: answers other than 200 and 503 (500s or transport errors): %q", kind, bad)
	}
	if window > maxOutage {
		t.Errorf("%s failover: 503 for %s, want at most %s", kind, window, maxOutage)
	}
	for i, tok := range tokens {
		if code, body := p.get(p.Public+"/auth/me", tok); code != http.StatusOK {
			t.Errorf("token %d issued before the kill, after the failover: %d %s, want 200", i, code, body)
		}
	}
	// A login acknowledged by the old primary in its last milliseconds may not have reached the
	// replica (Redis replicates asynchronously): count such tokens rather than fail on them.
	lost := 0
	for _, tok := range newTokens {
		if code, _ := p.get(p.Public+"/auth/me", tok); code != http.StatusOK {
			lost++
		}
	}
	t.Logf("%s failover: %d of %d tokens issued under load refused afterwards (asynchronous replication)", kind, lost, len(newTokens))
}
