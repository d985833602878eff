package models

import (
	"context"
	"errors"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Hasher runs bcrypt under admission control: at most `concurrency` hashes at once, and a caller
// that would wait longer than queueTimeout for a slot gets a 503 instead of piling up, so a
// login flood cannot starve the rest of the API of CPU.
type Hasher struct {
	cost         int
	slots        chan struct{}
	queueTimeout time.Duration
	// observeWait receives every slot wait, for metrics; it may be nil.
	observeWait func(wait time.Duration, admitted bool)
	// compare is bcrypt.CompareHashAndPassword; a field so a test can see that the dummy
	// comparison really runs (its cost cannot be asserted without timing).
	compare func(hash, password []byte) error

	dummyOnce sync.Once
	dummyHash []byte
}

// NewHasher returns a Hasher for the given cost and limits.
func NewHasher(cost, concurrency int, queueTimeout time.Duration, observeWait func(time.Duration, bool)) *Hasher {
	return &Hasher{cost: cost, slots: make(chan struct{}, concurrency), queueTimeout: queueTimeout, observeWait: observeWait, compare: bcrypt.CompareHashAndPassword}
}

// Cost is the bcrypt cost of new hashes.
func (h *Hasher) Cost() int { return h.cost }

// Hash returns the bcrypt hash of password; the caller has validated its length.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	release, err := h.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), h.cost)
	if err != nil {
		return "", &Error{Code: CodeInternal, Message: "internal error", Err: err}
	}
	return string(hash), nil
}

// Verify reports whether password matches hash. A nil hash (no such user) is compared against a
// dummy hash of the same cost, and a password over 72 bytes is compared and then refused, so
// that neither case answers faster than a wrong password for a real account.
func (h *Hasher) Verify(ctx context.Context, hash *string, password string) (bool, error) {
	release, err := h.acquire(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	target := h.dummy()
	if hash != nil {
		target = []byte(*hash)
	}
	match := h.compare(target, []byte(password)) == nil
	return match && hash != nil && len(password) <= MaxPasswordBytes, nil
}

// WarmUp computes the dummy hash ahead of the first unknown-email login.
func (h *Hasher) WarmUp() { h.dummy() }

func (h *Hasher) dummy() []byte {
	h.dummyOnce.Do(func() {
		// Any fixed password will do: no caller can know it matches nothing.
		h.dummyHash, _ = bcrypt.GenerateFromPassword([]byte("dummy-password-for-timing-0"), h.cost)
	})
	return h.dummyHash
}

var errQueueTimeout = errors.New("bcrypt queue wait exceeded")

func (h *Hasher) acquire(ctx context.Context) (release func(), err error) {
	start := time.Now()
	select {
	case h.slots <- struct{}{}:
		h.observe(time.Since(start), true)
		return func() { <-h.slots }, nil
	default:
	}
	timer := time.NewTimer(h.queueTimeout)
	defer timer.Stop()
	select {
	case h.slots <- struct{}{}:
		h.observe(time.Since(start), true)
		return func() { <-h.slots }, nil
	case <-timer.C:
		h.observe(time.Since(start), false)
		return nil, &Error{Code: CodeUnavailable, Message: "server busy, try again", RetryAfter: time.Second, Err: errQueueTimeout}
	case <-ctx.Done():
		h.observe(time.Since(start), false)
		return nil, Unavailable("password hashing", ctx.Err())
	}
}

func (h *Hasher) observe(wait time.Duration, admitted bool) {
	if h.observeWait != nil {
		h.observeWait(wait, admitted)
	}
}
