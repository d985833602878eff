package apptest

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/uptrace/bun"

	"github.com/example/authapi/app"
	"github.com/example/authapi/config"
	"github.com/example/authapi/models"
)

// Env is a test's App and, beside it, the test's own Handles on the database and Redis the App
// uses, opened from the same configuration. A test arranges and checks state through these, as
// another process would, not through the App's internals.
type Env struct {
	App    *app.App
	Config config.Config
	Handles
}

// Handles are a test's own connections to the Postgres database and the Redis of a
// configuration, and the stores over them.
type Handles struct {
	DB       *bun.DB
	Redis    redis.UniversalClient
	Users    *models.BunUserStore
	Accounts *models.AccountStore
	Tokens   *models.TokenStore
	// Sessions opens and ends sessions as the App does (MintSession opens one without a login).
	Sessions *models.Sessions
}

// OpenHandles opens Handles on cfg's database and Redis, closed when the test ends.
func OpenHandles(tb testing.TB, cfg config.Config) Handles {
	tb.Helper()
	rdb, err := app.OpenRedis(cfg.Redis, nil)
	if err != nil {
		tb.Fatalf("test redis handle: %v", err)
	}
	db := app.OpenDB(cfg.DB)
	tb.Cleanup(func() {
		_ = rdb.Close()
		_ = db.Close()
	})
	tokens := models.NewTokenStore(rdb, cfg.Redis.Timeout)
	return Handles{
		DB: db, Redis: rdb,
		Users:    models.NewBunUserStore(db, cfg.DB.QueryTimeout),
		Accounts: models.NewAccountStore(db, cfg.DB.QueryTimeout),
		Tokens:   tokens,
		Sessions: app.NewSessions(cfg, db, tokens),
	}
}

// MintSession opens a session for userID as a login does, without its bcrypt (the proof is
// read from the row), and returns its grant: for tests that need a caller, not a login.
func (h Handles) MintSession(tb testing.TB, userID string) *models.Grant {
	tb.Helper()
	ctx := context.Background()
	proof := models.LoginProof{AMR: []string{"pwd"}}
	err := h.DB.QueryRowContext(ctx, "SELECT id, password_hash, session_epoch FROM users WHERE id = ?", userID).
		Scan(&proof.UserID, &proof.VerifiedHash, &proof.SessionEpoch)
	if err != nil {
		tb.Fatalf("mint session: read user %s: %v", userID, err)
	}
	grant, err := h.Sessions.Open(ctx, proof, models.Client{IP: "127.0.0.1", UserAgent: "apptest"})
	if err != nil {
		tb.Fatalf("mint session: %v", err)
	}
	return grant
}

// NewEnv builds an App over cfg, logging JSON to logs (discarded when nil), and the test's
// handles. The App is not prepared yet: call Prepare (what Run does) once the test has set up
// what must come first. Everything is closed when the test ends.
func NewEnv(tb testing.TB, cfg config.Config, logs io.Writer, opts ...app.Option) *Env {
	tb.Helper()
	if logs == nil {
		logs = io.Discard
	}
	a, err := app.New(cfg, app.NewLogger(config.Log{Level: cfg.Log.Level, Format: "json"}, logs), opts...)
	if err != nil {
		tb.Fatalf("new app: %v", err)
	}
	tb.Cleanup(func() { _ = a.Close() })
	return &Env{App: a, Config: cfg, Handles: OpenHandles(tb, cfg)}
}

// Prepare runs the App's Prepare, the production path to readiness (schema checked or
// migrated, mail worker started), and fails the test if it does not succeed.
func (e *Env) Prepare(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.App.Prepare(ctx); err != nil {
		tb.Fatalf("prepare app: %v", err)
	}
}

// MustNewApp returns a ready Env over a fresh database, which the App's Prepare migrates as
// MIGRATE_ON_START does in production; overrides apply on top of Config. Logs go to logs when
// it is not nil.
func MustNewApp(tb testing.TB, overrides map[string]string, logs io.Writer, opts ...app.Option) *Env {
	tb.Helper()
	dbURL := MustCreateDatabase(tb)
	MustOpenRedis(tb) // fail early, with the how-to, when Redis is missing
	e := NewEnv(tb, Config(tb, dbURL, overrides), logs, opts...)
	e.Prepare(tb)
	return e
}
