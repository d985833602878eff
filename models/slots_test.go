package models

import (
	"context"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// waitQueued waits until n callers of class p are queued on s.
func waitQueued(t *testing.T, s *slots, p priority, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		s.mu.Lock()
		queued := s.waiting[p].Len()
		s.mu.Unlock()
		if queued == n {
			return
		}
	}
	t.Fatalf("%d callers of class %d never queued", n, p)
}

// A freed slot goes to a waiting login before any waiting new-password hash, whatever the order
// they came in.
func TestSlotsLoginFirst(t *testing.T) {
	s := newSlots(1)
	if ok, _ := s.acquire(context.Background(), priorityNewHash, time.Second); !ok {
		t.Fatal("a free slot was not taken")
	}
	order := make(chan priority, 4)
	get := func(p priority) {
		if ok, _ := s.acquire(context.Background(), p, 10*time.Second); ok {
			order <- p
			s.release(p)
		}
	}
	go get(priorityNewHash) // queued first
	waitQueued(t, s, priorityNewHash, 1)
	go get(priorityNewHash)
	waitQueued(t, s, priorityNewHash, 2)
	go get(priorityLogin) // queued last
	waitQueued(t, s, priorityLogin, 1)
	s.release(priorityNewHash)
	if first := <-order; first != priorityLogin {
		t.Fatalf("the freed slot went to class %d, want the login", first)
	}
	<-order
	<-order
	if all, hashes := s.inUse(); all != 0 || hashes != 0 {
		t.Fatalf("slots in use after every release: %d (%d hashes)", all, hashes)
	}
}

// With two or more slots, new-password hashes never hold the last one: a login arriving during
// a hash flood gets a slot at once.
func TestSlotsReservedForLogins(t *testing.T) {
	s := newSlots(3)
	for range 2 {
		if ok, _ := s.acquire(context.Background(), priorityNewHash, time.Second); !ok {
			t.Fatal("hash did not get a free slot")
		}
	}
	if ok, _ := s.acquire(context.Background(), priorityNewHash, 20*time.Millisecond); ok {
		t.Fatal("a third hash took the slot kept for logins")
	}
	// Nothing is ever released here, so a login that gets a slot got the one kept free: "at
	// once" is that condition, not a duration a busy machine could stretch.
	if ok, _ := s.acquire(context.Background(), priorityLogin, time.Minute); !ok {
		t.Fatal("login during a hash flood got no slot")
	}
	if all, hashes := s.inUse(); all != 3 || hashes != 2 {
		t.Fatalf("slots in use %d (hashes %d), want 3 (2)", all, hashes)
	}
	// A single slot is shared: hashes may take it when no login waits.
	one := newSlots(1)
	if ok, _ := one.acquire(context.Background(), priorityNewHash, time.Second); !ok {
		t.Fatal("with one slot, a hash must be able to run")
	}
}

// A waiter that gives up (queue timeout or cancelled request) leaves the queue, and the slot it
// did not take goes to the next one.
func TestSlotsWaiterGivesUp(t *testing.T) {
	s := newSlots(1)
	s.acquire(context.Background(), priorityLogin, time.Second)
	if ok, cancelled := s.acquire(context.Background(), priorityLogin, time.Millisecond); ok || cancelled {
		t.Fatalf("timed out waiter: ok=%v cancelled=%v", ok, cancelled)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if ok, cancelled := s.acquire(ctx, priorityNewHash, time.Second); ok || !cancelled {
		t.Fatalf("cancelled waiter: ok=%v cancelled=%v", ok, cancelled)
	}
	s.release(priorityLogin)
	if all, _ := s.inUse(); all != 0 {
		t.Fatalf("a slot leaked to a waiter that had left: %d in use", all)
	}
}

// Hash and Verify use the two classes: a Verify queued behind Hash calls runs first.
func TestHasherLoginBeforeHash(t *testing.T) {
	h := NewHasher(HasherOptions{Cost: bcrypt.MinCost, Concurrency: 1, QueueTimeout: 10 * time.Second})
	h.slots.acquire(context.Background(), priorityNewHash, time.Second)
	done := make(chan string, 3)
	for range 2 {
		go func() { _, _ = h.Hash(context.Background(), "password1"); done <- "hash" }()
	}
	waitQueued(t, h.slots, priorityNewHash, 2)
	go func() { _, _ = h.Verify(context.Background(), nil, "password1"); done <- "verify" }()
	waitQueued(t, h.slots, priorityLogin, 1)
	h.slots.release(priorityNewHash)
	if first := <-done; first != "verify" {
		t.Fatalf("%s finished first, want verify", first)
	}
	<-done
	<-done
}
