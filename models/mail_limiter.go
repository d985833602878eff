package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/redis/go-redis/v9"
)

// MailRequestLimits bound the requests that send mail (resend, forgot), per route: at most
// PerEmail per address written in the request and PerAddr per client address, per Window.
type MailRequestLimits struct {
	PerEmail int
	PerAddr  int
	Window   time.Duration
}

// MailRequestLimiter counts mail requests in Redis (fixed windows from the first request), so
// that nobody floods an inbox or the outbox, on any number of instances. Every request counts,
// for an existing account or not, so the limit says nothing about which emails exist. Keys
// carry a hash of the email, never the email; every command touches one key (Cluster-safe).
type MailRequestLimiter struct {
	rdb     redis.UniversalClient
	limits  MailRequestLimits
	timeout time.Duration
}

// NewMailRequestLimiter returns a limiter with the given limits.
func NewMailRequestLimiter(rdb redis.UniversalClient, limits MailRequestLimits, timeout time.Duration) *MailRequestLimiter {
	return &MailRequestLimiter{rdb: rdb, limits: limits, timeout: timeout}
}

// Allow counts one request of route (a fixed word) for email from addr, and refuses it with a
// CodeRateLimited error, with the wait until its window ends, past either limit.
func (l *MailRequestLimiter) Allow(ctx context.Context, route, email, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	sum := sha256.Sum256([]byte(email))
	window := l.limits.Window
	counted, err := countWindows(ctx, l.rdb, l.timeout, []limitKey{
		{"mail_req:" + route + ":email:" + hex.EncodeToString(sum[:12]), LimitRule{Max: l.limits.PerEmail, Window: window}},
		{"mail_req:" + route + ":addr:" + addr, LimitRule{Max: l.limits.PerAddr, Window: window}},
	}, nil)
	if err != nil {
		return err
	}
	wait := counted.wait(nil)
	if wait > 0 {
		return &Error{Code: CodeRateLimited, Message: "too many requests, try again later", RetryAfter: wait}
	}
	return nil
}
