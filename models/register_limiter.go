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
	var count *redis.IntCmd
	var ttl *redis.DurationCmd
	_, err := l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		count = p.Incr(ctx, key)
		p.ExpireNX(ctx, key, l.rule.Window)
		ttl = p.PTTL(ctx, key)
		return nil
	})
	if err != nil {
		return nil, Unavailable("redis", err)
	}
	if count.Val() > int64(l.rule.Max) {
		wait := ttl.Val()
		if wait <= 0 {
			wait = l.rule.Window
		}
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
