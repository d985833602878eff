package models

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// RegisterLimiter counts registrations per client address in Redis (a fixed window that starts
// at the first attempt), so the limit holds across every instance. Each counter is one key and
// every command touches only that key, so it runs on Redis Cluster as it does on one node.
type RegisterLimiter struct {
	rdb     redis.UniversalClient
	rule    LimitRule
	timeout time.Duration
}

// NewRegisterLimiter returns a limiter allowing rule.Max registrations per address per
// rule.Window.
func NewRegisterLimiter(rdb redis.UniversalClient, rule LimitRule, timeout time.Duration) *RegisterLimiter {
	return &RegisterLimiter{rdb: rdb, rule: rule, timeout: timeout}
}

// RegisterAttempt is one registration counted against its address.
type RegisterAttempt struct {
	l   *RegisterLimiter
	key string
}

// Reserve counts one registration from addr before any work is done for it, and refuses it
// with a CodeRateLimited error (Retry-After: the rest of the window) when that takes the
// address past its limit. INCR first, as in LoginLimiter.Reserve: concurrent attempts cannot
// all pass a check before any is counted. A refused attempt is not given back, so hammering
// past the limit does not shorten it.
func (l *RegisterLimiter) Reserve(ctx context.Context, addr string) (*RegisterAttempt, error) {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	key := "register:addr:" + addr
	counted, err := countWindows(ctx, l.rdb, l.timeout, []limitKey{{key, l.rule}}, nil)
	if err != nil {
		return nil, err
	}
	if wait := counted.wait(nil); wait > 0 {
		return nil, &Error{Code: CodeRateLimited, Message: "too many registrations from this address", RetryAfter: wait}
	}
	return &RegisterAttempt{l: l, key: key}, nil
}

// Cancel gives the counted registration back: it was turned away for reasons of the server's
// (a dependency down, no bcrypt slot), not the client's, and a retry must not be held against
// the address.
func (a *RegisterAttempt) Cancel(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, a.l.timeout)
	defer cancel()
	_ = decrIfExists.Run(ctx, a.l.rdb, []string{a.key}).Err()
}
