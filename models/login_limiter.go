package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// LimitRule is one failed-login counter: at most Max failures per Window.
type LimitRule struct {
	Max    int
	Window time.Duration
}

// LoginLimits are the three counters of the contract.
type LoginLimits struct {
	AccountAddr LimitRule
	Account     LimitRule
	Addr        LimitRule
}

// LoginLimiter counts failed logins in Redis (fixed windows that start at the first failure),
// so the limits hold across every instance. Keys carry a hash of the email, not the email.
type LoginLimiter struct {
	rdb     redis.UniversalClient
	limits  LoginLimits
	timeout time.Duration
}

// NewLoginLimiter returns a limiter with the given limits.
func NewLoginLimiter(rdb redis.UniversalClient, limits LoginLimits, timeout time.Duration) *LoginLimiter {
	return &LoginLimiter{rdb: rdb, limits: limits, timeout: timeout}
}

type limitKey struct {
	key  string
	rule LimitRule
}

func (l *LoginLimiter) keys(email, addr string) [3]limitKey {
	sum := sha256.Sum256([]byte(email))
	account := hex.EncodeToString(sum[:12])
	return [3]limitKey{
		{"login_fail:acct_addr:" + account + ":" + addr, l.limits.AccountAddr},
		{"login_fail:acct:" + account, l.limits.Account},
		{"login_fail:addr:" + addr, l.limits.Addr},
	}
}

// Check returns a CodeRateLimited error, with the wait until the window ends, when any counter
// for this account or address is at its limit.
func (l *LoginLimiter) Check(ctx context.Context, email, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	keys := l.keys(email, addr)
	counts := make([]*redis.StringCmd, len(keys))
	ttls := make([]*redis.DurationCmd, len(keys))
	_, err := l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			counts[i] = p.Get(ctx, k.key)
			ttls[i] = p.PTTL(ctx, k.key)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return Unavailable("redis", err)
	}
	var wait time.Duration
	for i, k := range keys {
		n, err := counts[i].Int()
		if err != nil || n < k.rule.Max {
			continue
		}
		if ttl := ttls[i].Val(); ttl > wait {
			wait = ttl
		} else if ttl <= 0 && k.rule.Window > wait {
			wait = k.rule.Window // a counter without TTL should not exist; be safe.
		}
	}
	if wait > 0 {
		return &Error{Code: CodeRateLimited, Message: "too many failed login attempts", RetryAfter: wait}
	}
	return nil
}

// Fail counts one failed login against every counter.
func (l *LoginLimiter) Fail(ctx context.Context, email, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	_, err := l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range l.keys(email, addr) {
			p.Incr(ctx, k.key)
			p.ExpireNX(ctx, k.key, k.rule.Window)
		}
		return nil
	})
	if err != nil {
		return Unavailable("redis", err)
	}
	return nil
}

// Succeed clears the account-and-address counter after a successful login.
func (l *LoginLimiter) Succeed(ctx context.Context, email, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	if err := l.rdb.Del(ctx, l.keys(email, addr)[0].key).Err(); err != nil {
		return Unavailable("redis", err)
	}
	return nil
}
