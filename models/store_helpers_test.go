package models_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/example/authapi/app/apptest"
	"github.com/example/authapi/models"
)

// The store tests run on real Postgres and Redis (TEST_DATABASE_URL, TEST_REDIS_URL; `just
// test` provides both). They sit in the external package models_test so they may use apptest,
// which imports app and therefore models.

// storeTimeout bounds each store call; generous, for a busy CI machine.
const storeTimeout = 10 * time.Second

// mustUserStore returns a BunUserStore over a fresh, migrated database of its own, so counts
// and pages see only what the test created.
func mustUserStore(tb testing.TB) *models.BunUserStore {
	tb.Helper()
	db, _ := apptest.MustOpenDB(tb)
	return models.NewBunUserStore(db, storeTimeout)
}

// mustRedis returns a client on TEST_REDIS_URL. Tests share the server: each uses random ids,
// emails and addresses, so their keys never meet.
func mustRedis(tb testing.TB) redis.UniversalClient {
	tb.Helper()
	return apptest.MustOpenRedis(tb)
}

// wantCode fails the test unless err carries code.
func wantCode(tb testing.TB, err error, code models.Code) {
	tb.Helper()
	if got := models.ErrorCode(err); err == nil || got != code {
		tb.Fatalf("err = %v (code %q), want code %q", err, got, code)
	}
}
