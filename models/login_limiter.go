package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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
//
// The account counter is the one an attacker can use against a user: enough failures from
// anywhere lock the account for everyone. So an address that logged in successfully for this
// account in the last KnownClientTTL (a known client) is exempt from the account counter; it
// still counts there, and stays under the account+address and address counters, so a stolen
// device or a shared address gains no more than 10 guesses per 15 minutes.
type LoginLimiter struct {
	rdb     redis.UniversalClient
	limits  LoginLimits
	timeout time.Duration
}

// NewLoginLimiter returns a limiter with the given limits.
func NewLoginLimiter(rdb redis.UniversalClient, limits LoginLimits, timeout time.Duration) *LoginLimiter {
	return &LoginLimiter{rdb: rdb, limits: limits, timeout: timeout}
}

// KnownClientTTL is how long a successful login keeps its address exempt from the account
// counter of that account.
const KnownClientTTL = 30 * 24 * time.Hour

type limitKey struct {
	key  string
	rule LimitRule
}

// accountRule is the index of the account counter in keys.
const accountRule = 1

func (l *LoginLimiter) keys(email, addr string) [3]limitKey {
	sum := sha256.Sum256([]byte(email))
	account := hex.EncodeToString(sum[:12])
	return [3]limitKey{
		{"login_fail:acct_addr:" + account + ":" + addr, l.limits.AccountAddr},
		{"login_fail:acct:" + account, l.limits.Account},
		{"login_fail:addr:" + addr, l.limits.Addr},
	}
}

// knownKey marks addr as a known client of the account; it holds a hash of both, not them.
func knownKey(email, addr string) string {
	sum := sha256.Sum256([]byte(email + "\x00" + addr))
	return "login_known:" + hex.EncodeToString(sum[:16])
}

// decrIfExists takes back one counted failure without ever creating a key (a key recreated by
// DECR would have no TTL and never expire). One key per call, so it runs on Redis Cluster too.
var decrIfExists = redis.NewScript(`if redis.call("EXISTS", KEYS[1]) == 1 then return redis.call("DECR", KEYS[1]) end return 0`)

// Reservation is one login attempt counted, up front, as a failure on every counter.
type Reservation struct {
	l     *LoginLimiter
	keys  [3]limitKey
	known string
}

// Reserve counts this attempt as a failure before any password is checked, and refuses it with
// a CodeRateLimited error (with the wait until the window ends) when that takes any counter past
// its limit. Counting first with INCR, whose result is atomic per key, means concurrent
// attempts cannot all pass a check before any of them is counted: at most Max attempts per
// counter and window ever reach bcrypt. The caller takes the count back with Cancel or Succeed
// when the password was right or never checked.
func (l *LoginLimiter) Reserve(ctx context.Context, email, addr string) (*Reservation, error) {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	r := &Reservation{l: l, keys: l.keys(email, addr), known: knownKey(email, addr)}
	counts := make([]*redis.IntCmd, len(r.keys))
	ttls := make([]*redis.DurationCmd, len(r.keys))
	var known *redis.IntCmd
	_, err := l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range r.keys {
			counts[i] = p.Incr(ctx, k.key)
			p.ExpireNX(ctx, k.key, k.rule.Window)
			ttls[i] = p.PTTL(ctx, k.key)
		}
		known = p.Exists(ctx, r.known)
		return nil
	})
	if err != nil {
		r.giveBack(counts)
		return nil, Unavailable("redis", err)
	}
	var wait time.Duration
	for i, k := range r.keys {
		if counts[i].Val() <= int64(k.rule.Max) || (i == accountRule && known.Val() == 1) {
			continue
		}
		if ttl := ttls[i].Val(); ttl > wait {
			wait = ttl
		} else if ttl <= 0 && k.rule.Window > wait {
			wait = k.rule.Window // a counter without TTL should not exist; be safe.
		}
	}
	if wait > 0 {
		// A refused attempt is not a failure: give its count back, so that hammering a locked
		// account does not also lock out the address or account counters it shares.
		_ = r.release(ctx, false)
		return nil, &Error{Code: CodeRateLimited, Message: "too many failed login attempts", RetryAfter: wait}
	}
	return r, nil
}

// giveBack undoes the increments that did land when the pipeline failed as a whole. On a Redis
// Cluster the three keys live on different nodes, so while one node is down the others count:
// without this, every 503 of a failover would leave failures nobody made, and a user retrying
// through it would be locked out for the whole window. Best effort, on a fresh deadline (the
// caller's may be what ran out); a count whose reply was lost cannot be told apart and stays.
func (r *Reservation) giveBack(counts []*redis.IntCmd) {
	ctx, cancel := context.WithTimeout(context.Background(), r.l.timeout)
	defer cancel()
	_, _ = r.l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range r.keys {
			// Val, not Err: when the call's deadline ends the retries, go-redis sets that
			// error on every command of the pipeline, the answered ones too. An answered INCR
			// is at least 1.
			if counts[i].Val() > 0 {
				decrIfExists.Eval(ctx, p, []string{k.key})
			}
		}
		return nil
	})
}

// Cancel takes back the counted failure: the password matched, or was never checked.
func (r *Reservation) Cancel(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.l.timeout)
	defer cancel()
	return r.release(ctx, false)
}

// Succeed takes back the counted failure and clears the account-and-address counter, after a
// successful login, and marks the address as a known client of the account for
// KnownClientTTL. The account and address counters keep the failures before it.
func (r *Reservation) Succeed(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.l.timeout)
	defer cancel()
	return r.release(ctx, true)
}

func (r *Reservation) release(ctx context.Context, clearAccountAddr bool) error {
	_, err := r.l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range r.keys {
			if i == 0 && clearAccountAddr {
				p.Del(ctx, k.key)
				continue
			}
			decrIfExists.Eval(ctx, p, []string{k.key})
		}
		if clearAccountAddr {
			p.Set(ctx, r.known, 1, KnownClientTTL)
		}
		return nil
	})
	if err != nil {
		return Unavailable("redis", err)
	}
	return nil
}
