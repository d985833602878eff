package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/example/authapi/app"
	"github.com/example/authapi/app/apptest"
	"github.com/example/authapi/config"
)

// TestMigrateThroughPgBouncer: migrations hold a session advisory lock, which a PgBouncer in
// transaction pooling mode cannot keep. Through it, `migrate up` and `serve` fail with one line
// naming MIGRATE_DATABASE_URL and leave the database untouched; with MIGRATE_DATABASE_URL on the
// direct server both work while queries still go through PgBouncer.
func TestMigrateThroughPgBouncer(t *testing.T) {
	apptest.PgBouncerURL(t)
	dbURL := apptest.MustCreateDatabase(t)
	pooled := apptest.ViaPgBouncer(dbURL)
	if pooled == "" {
		t.Fatal("TEST_PGBOUNCER_URL set but the test database is not reachable through it")
	}
	t.Setenv("DATABASE_URL", pooled)
	t.Setenv("MIGRATE_DATABASE_URL", "")
	t.Setenv("REDIS_URL", apptest.RedisURL(t))
	t.Setenv("JWT_SECRET", apptest.Secret)

	code, out := runCLI(t, "migrate", "up")
	if code != app.ExitUsage || !strings.Contains(out, "MIGRATE_DATABASE_URL") || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Fatalf("migrate up through PgBouncer: exit %d, output %q; want exit %d (bad configuration) in one line naming MIGRATE_DATABASE_URL", code, out, app.ExitUsage)
	}
	if n := tableCount(t, dbURL); n != 0 {
		t.Errorf("the failed migrate left %d tables behind", n)
	}

	// serve does not wait for a schema that can never be migrated: exit 2, the same line.
	s := apptest.StartServer(t, map[string]string{"DATABASE_URL": pooled, "MIGRATE_DATABASE_URL": "", "REDIS_URL": apptest.RedisURL(t)})
	if code := s.Wait(30 * time.Second); code != app.ExitUsage {
		t.Errorf("serve through PgBouncer without MIGRATE_DATABASE_URL: exit %d, want %d", code, app.ExitUsage)
	}
	if !strings.Contains(s.Log.String(), "MIGRATE_DATABASE_URL") {
		t.Errorf("serve's error does not name MIGRATE_DATABASE_URL:\n%s", s.Log.String())
	}

	t.Setenv("MIGRATE_DATABASE_URL", dbURL)
	if code, out := runCLI(t, "migrate", "up"); code != 0 || !strings.Contains(out, "migrate up") {
		t.Fatalf("migrate up with MIGRATE_DATABASE_URL: exit %d, %s", code, out)
	}
	p := startProc(t, map[string]string{"DATABASE_URL": pooled, "MIGRATE_DATABASE_URL": dbURL, "REDIS_URL": apptest.RedisURL(t)})
	p.WaitReady(30 * time.Second)
	email := randomEmail()
	p.register(email)
	p.login(email)
}

// tableCount counts the tables of the public schema of dbURL.
func tableCount(t *testing.T, dbURL string) int {
	t.Helper()
	db := app.OpenDB(config.DB{URL: dbURL, MaxConnections: 1, QueryTimeout: 5 * time.Second})
	defer db.Close()
	var n int
	if err := db.QueryRowContext(context.Background(), "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
