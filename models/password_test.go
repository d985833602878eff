package models

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// A caller that cannot get a bcrypt slot within the queue timeout gets a 503 with Retry-After
// instead of waiting. The slot is taken by hand, so the test does not depend on timing.
func TestHasherQueueTimeout(t *testing.T) {
	h := NewHasher(HasherOptions{Cost: bcrypt.MinCost, Concurrency: 1, QueueTimeout: time.Millisecond})
	h.slots.acquire(context.Background(), priorityLogin, time.Second) // the one slot is busy
	for name, call := range map[string]func() error{
		"Hash":   func() error { _, err := h.Hash(context.Background(), "password1"); return err },
		"Verify": func() error { _, err := h.Verify(context.Background(), nil, "password1"); return err },
	} {
		err := call()
		var e *Error
		if ErrorCode(err) != CodeUnavailable || !errors.As(err, &e) || e.RetryAfter <= 0 {
			t.Fatalf("%s with no free slot: %v, want unavailable with RetryAfter", name, err)
		}
	}
	h.slots.release(priorityLogin)
	if _, err := h.Hash(context.Background(), "password1"); err != nil {
		t.Fatalf("Hash with a free slot: %v", err)
	}
}

// The dummy hash compared for unknown emails has the configured cost, so it takes as long as a
// real account's hash, and it never lets anyone in.
func TestHasherDummy(t *testing.T) {
	const cost = bcrypt.MinCost + 1
	h := NewHasher(HasherOptions{Cost: cost, Concurrency: 1, QueueTimeout: time.Second})
	if got, err := bcrypt.Cost(h.dummy()); err != nil || got != cost {
		t.Fatalf("dummy hash cost = %d, %v; want %d", got, err, cost)
	}
	if ok, err := h.Verify(context.Background(), nil, "dummy-password-for-timing-0"); ok || err != nil {
		t.Fatalf("the dummy password matched no user: ok=%v err=%v", ok, err)
	}
	// An unknown email runs one real comparison, against a hash of the configured cost.
	var compared []int
	h.compare = func(hash, password []byte) error {
		c, _ := bcrypt.Cost(hash)
		compared = append(compared, c)
		return bcrypt.CompareHashAndPassword(hash, password)
	}
	if ok, _ := h.Verify(context.Background(), nil, "any-password-1"); ok || len(compared) != 1 || compared[0] != cost {
		t.Fatalf("unknown email: ok=%v, comparisons at costs %v; want one at cost %d", ok, compared, cost)
	}
}

// bcrypt reads only 72 bytes: a longer password that starts with the right one must not match.
func TestHasherRefusesOverlongPassword(t *testing.T) {
	h := NewHasher(HasherOptions{Cost: bcrypt.MinCost, Concurrency: 1, QueueTimeout: time.Second})
	password := strings.Repeat("a1", MaxPasswordBytes/2)
	hash, err := h.Hash(context.Background(), password)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := h.Verify(context.Background(), &hash, password); !ok {
		t.Fatal("the right password did not match")
	}
	if ok, _ := h.Verify(context.Background(), &hash, password+"x"); ok {
		t.Fatal("a 73-byte password matched the hash of its first 72 bytes")
	}
}
