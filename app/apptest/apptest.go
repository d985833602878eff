// Package apptest holds the helpers of the integration tests: a private, migrated Postgres
// database per test package, a Redis connection, and a ready App. No production code imports it.
package apptest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/uptrace/bun"

	"github.com/example/authapi/app"
	"github.com/example/authapi/config"
	"github.com/example/authapi/migrations"
)

// Secret is the JWT secret of test apps, random for each test binary: a value written in the
// repository would be a published secret, which the service refuses.
var Secret = rand.Text() + rand.Text()

// MFAKey is the tests' MFA_ENCRYPTION_KEY: 32 random bytes, base64, new in every run.
var MFAKey = func() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}()

const howToStart = `run the tests with "just test", which starts private instances itself, or start them
with "just services" and export TEST_DATABASE_URL and TEST_REDIS_URL as the URLs it prints`

// DatabaseURL returns TEST_DATABASE_URL (a Postgres URL whose user may create databases), or
// fails the test saying how to get one.
func DatabaseURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("TEST_DATABASE_URL")
	if u == "" {
		tb.Fatalf("TEST_DATABASE_URL is not set: the tests need a real Postgres; %s", howToStart)
	}
	return u
}

// RedisURL returns TEST_REDIS_URL, or fails the test saying how to get one.
func RedisURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("TEST_REDIS_URL")
	if u == "" {
		tb.Fatalf("TEST_REDIS_URL is not set: the tests need a real Redis; %s", howToStart)
	}
	return u
}

// RandomName returns prefix followed by random hex.
func RandomName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// MustCreateDatabase creates a randomly named, empty database on the TEST_DATABASE_URL server,
// drops it when the test ends, and returns its URL.
func MustCreateDatabase(tb testing.TB) string {
	tb.Helper()
	adminURL := DatabaseURL(tb)
	cfg := config.DB{URL: adminURL, MaxConnections: 2, QueryTimeout: 10 * time.Second}
	admin := app.OpenDB(cfg)
	name := RandomName("authapi_test_")
	ctx := context.Background()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		tb.Fatalf("create test database (is Postgres running at TEST_DATABASE_URL? %s): %v", howToStart, err)
	}
	tb.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(adminURL)
	if err != nil {
		tb.Fatalf("TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// MustOpenDB returns a Bun handle on a fresh database migrated by the real migrator.
func MustOpenDB(tb testing.TB) (*bun.DB, string) {
	tb.Helper()
	dbURL := MustCreateDatabase(tb)
	db := app.OpenDB(config.DB{URL: dbURL, MaxConnections: 20, QueryTimeout: 10 * time.Second})
	tb.Cleanup(func() { db.Close() })
	if _, err := migrations.Up(context.Background(), db); err != nil {
		tb.Fatalf("migrate test database: %v", err)
	}
	return db, dbURL
}

// MustOpenRedis returns a client on TEST_REDIS_URL.
func MustOpenRedis(tb testing.TB) redis.UniversalClient {
	tb.Helper()
	rdb, err := app.OpenRedis(config.Redis{URL: RedisURL(tb), Timeout: 2 * time.Second}, nil)
	if err != nil {
		tb.Fatalf("TEST_REDIS_URL: %v", err)
	}
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		tb.Fatalf("redis at TEST_REDIS_URL does not answer (%s): %v", howToStart, err)
	}
	tb.Cleanup(func() { rdb.Close() })
	return rdb
}

// Config returns a valid test configuration over dbURL and TEST_REDIS_URL, with bcrypt at its
// minimum cost, then applies overrides (variable name → value). When TEST_PGBOUNCER_URL is set,
// the service's queries go through PgBouncer and its migrations straight to Postgres.
func Config(tb testing.TB, dbURL string, overrides map[string]string) config.Config {
	tb.Helper()
	values := map[string]string{
		"JWT_SECRET":         Secret,
		"MFA_ENCRYPTION_KEY": MFAKey,
		"DATABASE_URL":       dbURL,
		"REDIS_URL":          RedisURL(tb),
		"BCRYPT_COST":        "4",
		"LOG_LEVEL":          "error",
		"DB_TIMEOUT":         "10s",
		// bcrypt runs at BCRYPT_NICE 10, so on a CI machine busy with other work a hash can take
		// far longer than in production; a wait for a slot must not turn into a 503 there.
		// Tests of admission control set their own timeout.
		"BCRYPT_QUEUE_TIMEOUT": "30s",
		"REDIS_TIMEOUT":        "2s",
		// Every test's requests come from the same in-process peer: keep the per-address limit
		// out of the way unless a test sets it.
		"LOGIN_MAX_FAILURES_ADDR": "1000000",
		// Tests register many users from that one peer: the registration limit likewise.
		"REGISTER_MAX_PER_ADDR": "1000000",
		// No SMTP server unless a test starts one (StartSMTP, with SMTP_TLS=none: it is plain
		// text on loopback): links go to the test's log, as in development.
		"MAIL_LOG_LINKS": "true",
	}
	for k, v := range overrides {
		values[k] = v
	}
	routeThroughPgBouncer(values)
	cfg, err := config.FromValues(values)
	if err != nil {
		tb.Fatalf("test config: %v", err)
	}
	return cfg
}

// LogBuffer collects log output for assertions; safe for concurrent writers.
type LogBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Must fails the test on err.
func Must(tb testing.TB, err error, what string) {
	tb.Helper()
	if err != nil {
		tb.Fatalf("%s: %v", what, err)
	}
}
