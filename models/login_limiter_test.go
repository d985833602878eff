package models_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/example/authapi/app/apptest"
	"github.com/example/authapi/models"
)

// newLimiter returns a limiter with the given account+address and account rules (the address
// rule out of the way), and an email and address no other test uses.
func newLimiter(t *testing.T, accountAddr, account models.LimitRule) (*models.LoginLimiter, string, string) {
	t.Helper()
	limits := models.LoginLimits{AccountAddr: accountAddr, Account: account, Addr: models.LimitRule{Max: 1000, Window: time.Hour}}
	return models.NewLoginLimiter(mustRedis(t), limits, storeTimeout), apptest.RandomName("limit") + "@example.com", newAddr()
}

// newAddr returns a client address no other test uses.
func newAddr() string { return apptest.RandomName("addr-") }

// reserve counts one failed attempt and returns the refusal, if any.
func reserve(t *testing.T, l *models.LoginLimiter, email, addr string) error {
	t.Helper()
	_, err := l.Reserve(context.Background(), email, addr)
	if err != nil && models.ErrorCode(err) != models.CodeRateLimited {
		t.Fatalf("reserve: %v", err)
	}
	return err
}

func TestLoginLimiter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	hour := func(limit int) models.LimitRule { return models.LimitRule{Max: limit, Window: time.Hour} }

	t.Run("RefusedPastMaxUntilTheWindowEnds", func(t *testing.T) {
		t.Parallel()
		rule := models.LimitRule{Max: 2, Window: time.Second}
		l, email, addr := newLimiter(t, rule, hour(1000))
		for i := range rule.Max {
			if err := reserve(t, l, email, addr); err != nil {
				t.Fatalf("attempt %d refused: %v", i+1, err)
			}
		}
		err := reserve(t, l, email, addr)
		var e *models.Error
		if !errors.As(err, &e) || e.RetryAfter <= 0 || e.RetryAfter > rule.Window {
			t.Fatalf("attempt past max: %v, want rate_limited with 0 < RetryAfter <= %s", err, rule.Window)
		}
		if err := reserve(t, l, email, newAddr()); err != nil {
			t.Fatalf("the same account from another address was refused: %v", err)
		}
		time.Sleep(rule.Window + 200*time.Millisecond)
		if err := reserve(t, l, email, addr); err != nil {
			t.Fatalf("refused after the window ended: %v", err)
		}
	})
	t.Run("CancelGivesTheAttemptBack", func(t *testing.T) {
		t.Parallel()
		l, email, addr := newLimiter(t, hour(1), hour(1000))
		for range 3 {
			r, err := l.Reserve(ctx, email, addr)
			apptest.Must(t, err, "reserve")
			apptest.Must(t, r.Cancel(ctx), "cancel")
		}
		if err := reserve(t, l, email, addr); err != nil {
			t.Fatalf("cancelled attempts were counted: %v", err)
		}
	})
	t.Run("SucceedClearsAccountAddrOnly", func(t *testing.T) {
		t.Parallel()
		l, email, addr := newLimiter(t, hour(2), hour(3))
		apptest.Must(t, reserve(t, l, email, addr), "failure 1")
		apptest.Must(t, reserve(t, l, email, addr), "failure 2")
		elsewhere := newAddr()
		r, err := l.Reserve(ctx, email, elsewhere) // the right password, from elsewhere
		apptest.Must(t, err, "reserve")
		apptest.Must(t, r.Succeed(ctx), "succeed")
		// The account counter keeps its two failures: one more is allowed, then none.
		apptest.Must(t, reserve(t, l, email, elsewhere), "failure 3")
		if err := reserve(t, l, email, newAddr()); err == nil {
			t.Fatal("account counter forgot the failures before a success")
		}
	})
	t.Run("RefusalIsNotCounted", func(t *testing.T) {
		t.Parallel()
		l, email, addr := newLimiter(t, hour(1), hour(3))
		apptest.Must(t, reserve(t, l, email, addr), "failure 1")
		for range 5 {
			if err := reserve(t, l, email, addr); err == nil {
				t.Fatal("attempt past the account+address max was allowed")
			}
		}
		// Only the one real failure reached the account counter.
		apptest.Must(t, reserve(t, l, email, newAddr()), "failure 2")
		apptest.Must(t, reserve(t, l, email, newAddr()), "failure 3")
	})
}
