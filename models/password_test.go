package models

import (
	"context"
	"errors"
	"fmt"
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

// Every Verify does the bcrypt work of one compare at the Hasher's cost, whatever the stored
// hash: a cheaper one is compared and padded with real work up to that cost, and one costlier
// than MaxCost (or unreadable) is never run: it fails closed, is reported, and the dummy hash
// is compared instead. The work is counted in key-schedule rounds (2^cost per bcrypt run),
// which is what bcrypt's time is made of, so the test needs no clock.
func TestHasherVerifyCostsOneCompareAtCost(t *testing.T) {
	const cost, maxCost = bcrypt.MinCost + 3, bcrypt.MinCost + 4
	password := "right-password-1"
	hashAt := func(c int) string {
		h, err := bcrypt.GenerateFromPassword([]byte(password), c)
		if err != nil {
			t.Fatal(err)
		}
		return string(h)
	}
	// A hash of a cost nobody could wait for: a real cost-4 hash with its cost field raised.
	costly := func(c int) string { return fmt.Sprintf("$2a$%02d$", c) + hashAt(bcrypt.MinCost)[7:] }
	for _, tc := range []struct {
		name      string
		hash      *string
		password  string
		wantMatch bool
		refused   []int // costs reported to OnRefused (0: unreadable)
	}{
		{"OKUnknownEmail", nil, password, false, nil},
		{"OKSameCost", ptr(hashAt(cost)), password, true, nil},
		{"OKCheaperRight", ptr(hashAt(bcrypt.MinCost)), password, true, nil},
		{"OKCheaperWrong", ptr(hashAt(bcrypt.MinCost)), "wrong-password-1", false, nil},
		{"OKCostlierUpToMax", ptr(hashAt(maxCost)), password, true, nil},
		{"ErrCostlierThanMax", ptr(costly(maxCost + 1)), password, false, []int{maxCost + 1}},
		{"ErrCost31", ptr(costly(31)), password, false, []int{31}},
		{"ErrUnreadable", ptr("$2a$xx$" + hashAt(bcrypt.MinCost)[7:]), password, false, []int{0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var refused []int
			h := NewHasher(HasherOptions{Cost: cost, MaxCost: maxCost, Concurrency: 1, QueueTimeout: time.Second,
				OnRefused: func(c int, _ error) { refused = append(refused, c) }})
			h.WarmUp()
			var runs []int
			var rounds int
			count := func(c int) {
				runs = append(runs, c)
				rounds += 1 << c
				if c > maxCost {
					t.Errorf("bcrypt run at cost %d, above MaxCost %d", c, maxCost)
				}
			}
			h.compare = func(hash, pw []byte) error {
				c, err := bcrypt.Cost(hash)
				if err != nil {
					t.Errorf("compare against an unreadable hash: %v", err)
					return err
				}
				count(c)
				if c > maxCost { // never actually run: cost 31 would take days
					return bcrypt.ErrMismatchedHashAndPassword
				}
				return bcrypt.CompareHashAndPassword(hash, pw)
			}
			h.generate = func(pw []byte, c int) ([]byte, error) {
				count(c)
				return bcrypt.GenerateFromPassword(pw, c)
			}
			match, err := h.Verify(context.Background(), tc.hash, tc.password)
			if err != nil || match != tc.wantMatch {
				t.Fatalf("Verify = %v, %v; want %v", match, err, tc.wantMatch)
			}
			want := 1 << cost
			if tc.name == "OKCostlierUpToMax" {
				want = 1 << maxCost // allowed, and replaced at login (NeedsRehash)
			}
			if rounds != want {
				t.Fatalf("bcrypt runs at costs %v: %d rounds, want %d (one compare at cost %d)", runs, rounds, want, cost)
			}
			if fmt.Sprint(refused) != fmt.Sprint(tc.refused) {
				t.Fatalf("refused hashes reported: %v, want %v", refused, tc.refused)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
