package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/example/authapi/app"
	"github.com/example/authapi/app/apptest"
	"github.com/example/authapi/config"
	"github.com/example/authapi/models"
)

// TestReplicasOnCluster: three binaries share one database (through PgBouncer under `just
// test`) and one Redis Cluster. A mixed load spread over them (register on one, login on the
// next, /auth/me and logout on the third, failed logins) gives no 500; a token issued on A and
// logged out on B is refused on C; failed logins on different replicas add up to one limit; and
// /users/stats, asked of any replica, counts exactly the users created.
func TestReplicasOnCluster(t *testing.T) {
	c := apptest.StartCluster(t)
	dbURL := apptest.MustCreateDatabase(t)
	env := topologyEnv(t, dbURL, map[string]string{"REDIS_CLUSTER_ADDRS": c.Addrs()})
	procs := []proc{startProc(t, env), startProc(t, env), startProc(t, env)}
	for _, p := range procs {
		p.WaitReady(30 * time.Second)
	}
	wantTokenFlow(t, procs...)

	var (
		mu      sync.Mutex
		created = 2 // the two users of wantTokenFlow
		bad     []string
		wg      sync.WaitGroup
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(bad) < 10 {
			bad = append(bad, fmt.Sprintf(format, args...))
		}
	}
	const workers, rounds = 4, 15
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				a, b, cc := procs[(w+i)%3], procs[(w+i+1)%3], procs[(w+i+2)%3]
				email := randomEmail()
				if code, body, err := a.Do(http.MethodPost, a.Public+"/auth/register", map[string]string{"email": email, "password": goodPassword}, ""); err != nil || code != http.StatusCreated {
					fail("register on %s: %d %s %v", a.Public, code, body, err)
					continue
				}
				mu.Lock()
				created++
				mu.Unlock()
				code, body, err := b.Do(http.MethodPost, b.Public+"/auth/login", map[string]string{"email": email, "password": goodPassword}, "")
				if err != nil || code != http.StatusOK {
					fail("login on %s: %d %s %v", b.Public, code, body, err)
					continue
				}
				tok := tokenOf(body)
				if code, body, err := b.Do(http.MethodPost, b.Public+"/auth/login", map[string]string{"email": email, "password": "wrong-" + goodPassword}, ""); err != nil || code != http.StatusUnauthorized {
					fail("failed login on %s: %d %s %v", b.Public, code, body, err)
				}
				if code, body, err := cc.Do(http.MethodGet, cc.Public+"/auth/me", nil, tok); err != nil || code != http.StatusOK {
					fail("/auth/me on %s: %d %s %v", cc.Public, code, body, err)
				}
				if code, body, err := cc.Do(http.MethodPost, cc.Public+"/auth/logout", nil, tok); err != nil || code != http.StatusNoContent {
					fail("logout on %s: %d %s %v", cc.Public, code, body, err)
				}
				if code, body, err := a.Do(http.MethodGet, a.Public+"/auth/me", nil, tok); err != nil || code != http.StatusUnauthorized {
					fail("/auth/me after logout, on %s: %d %s %v, want 401", a.Public, code, body, err)
				}
			}
		}()
	}
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("mixed load over three replicas: %q", bad)
	}

	// An admin (promoted in the database) asks each replica for the counts.
	db := app.OpenDB(config.DB{URL: dbURL, MaxConnections: 1, QueryTimeout: 5 * time.Second})
	defer db.Close()
	admin := randomEmail()
	procs[0].register(admin)
	created++
	if _, err := models.NewBunUserStore(db, 5*time.Second).SetRole(context.Background(), admin, models.RoleAdmin); err != nil {
		t.Fatalf("promote: %v", err)
	}
	token := procs[1].login(admin)
	var rows int
	if err := db.QueryRowContext(context.Background(), "SELECT count(*) FROM users").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != created {
		t.Errorf("users table has %d rows, %d registrations answered 201", rows, created)
	}
	for _, p := range procs {
		code, body := p.get(p.Public+"/users/stats", token)
		var stats map[string]int
		if err := json.Unmarshal([]byte(body), &stats); code != http.StatusOK || err != nil {
			t.Fatalf("/users/stats on %s: %d %s", p.Public, code, body)
		}
		sum := 0
		for k, n := range stats {
			if k != "total" {
				sum += n
			}
		}
		if stats["total"] != created || sum != created {
			t.Errorf("/users/stats on %s: %s; want total %d, the states summing to it", p.Public, body, created)
		}
	}
}
