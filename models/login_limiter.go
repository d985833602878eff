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
	var known *redis.IntCmd
	counted, err := countWindows(ctx, l.rdb, l.timeout, r.keys[:], func(p redis.Pipeliner) {
		known = p.Exists(ctx, r.known)
	})
	if err != nil {
		return nil, err
	}
	wait := counted.wait(func(i int) bool { return i == accountRule && known.Val() == 1 })
	if wait > 0 {
		// A refused attempt is not a failure: give its count back, so that hammering a locked
		// account does not also lock out the address or account counters it shares.
		_ = r.release(ctx, false)
		return nil, &Error{Code: CodeRateLimited, Message: "too many failed login attempts", RetryAfter: wait}
	}
	return r, nil
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
