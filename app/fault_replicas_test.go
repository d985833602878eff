package app_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/example/authapi/app"
	"github.com/example/authapi/app/apptest"
	"github.com/example/authapi/config"
	"github.com/example/authapi/migrations"
)

// TestProcessReplicas: two binaries started at once on one empty database both become ready,
// the schema is migrated once (one migration group, each migration once), and a token revoked
// through one instance (logout, logout-all) is refused by the other at once.
func TestProcessReplicas(t *testing.T) {
	dbURL := apptest.MustCreateDatabase(t)
	rd := apptest.StartRedis(t)
	env := map[string]string{"DATABASE_URL": dbURL, "REDIS_URL": rd.URL()}
	// StartServer does not wait: both processes race for the migration lock.
	a, b := startProc(t, env), startProc(t, env)
	a.WaitReady(30 * time.Second)
	b.WaitReady(30 * time.Second)

	db := app.OpenDB(config.DB{URL: dbURL, MaxConnections: 1, QueryTimeout: 5 * time.Second})
	defer db.Close()
	var groups, rows, names int
	err := db.QueryRowContext(context.Background(),
		"SELECT count(DISTINCT group_id), count(*), count(DISTINCT name) FROM bun_migrations").Scan(&groups, &rows, &names)
	if err != nil {
		t.Fatalf("read bun_migrations: %v", err)
	}
	all, err := migrations.New()
	if err != nil {
		t.Fatal(err)
	}
	if want := len(all.Sorted()); groups != 1 || rows != want || names != want {
		t.Errorf("bun_migrations: %d groups, %d rows, %d names; want 1 group and %d migrations once each", groups, rows, names, want)
	}

	email := randomEmail()
	a.register(email)
	t1, t2, t3 := a.login(email), b.login(email), a.login(email)
	for _, tok := range []string{t1, t2, t3} {
		if code, body := b.get(b.Public+"/auth/me", tok); code != http.StatusOK {
			t.Fatalf("/auth/me on B before logout: %d %s", code, body)
		}
	}
	if code, body := a.post("/auth/logout", nil, t1); code != http.StatusNoContent {
		t.Fatalf("logout on A: %d %s", code, body)
	}
	if code, body := b.get(b.Public+"/auth/me", t1); code != http.StatusUnauthorized {
		t.Errorf("token logged out on A, used on B: %d %s, want 401", code, body)
	}
	if code, body := b.get(b.Public+"/auth/me", t2); code != http.StatusOK {
		t.Errorf("another token of the user after a single logout: %d %s, want 200", code, body)
	}
	if code, body := b.post("/auth/logout-all", nil, t2); code != http.StatusNoContent {
		t.Fatalf("logout-all on B: %d %s", code, body)
	}
	if code, body := a.get(a.Public+"/auth/me", t3); code != http.StatusUnauthorized {
		t.Errorf("a token from A, after logout-all on B: %d %s, want 401", code, body)
	}
	if code, body := a.get(a.Public+"/auth/me", t2); code != http.StatusUnauthorized {
		t.Errorf("token used for logout-all on B, used on A: %d %s, want 401", code, body)
	}
}
