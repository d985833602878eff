package models

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// priority is the class of a bcrypt caller: logins before new-password hashes.
type priority int

const (
	// priorityLogin is a password check at login: a user waiting to get in.
	priorityLogin priority = iota
	// priorityNewHash hashes a new password (register, batch): work an attacker can generate
	// at will from any address, and which must never delay a login.
	priorityNewHash
)

// slots is a counting semaphore with two classes of waiters. A freed slot goes to the
// longest-waiting login first and to a new-password hash only when no login waits, and hashes
// never hold more than hashMax slots at once: with two or more slots, one is always left for
// logins, so a register or batch flood adds at most the queue of other logins to a login's wait,
// never a hash's running time.
type slots struct {
	mu       sync.Mutex
	capacity int
	hashMax  int
	used     int
	hashUsed int
	waiting  [2]list.List // of *slotWaiter, per priority, oldest first
}

type slotWaiter struct {
	ready   chan struct{}
	granted bool
}

// newSlots returns a semaphore of capacity slots, of which new-password hashes may hold
// capacity-1 (all of them when there is only one).
func newSlots(capacity int) *slots {
	return &slots{capacity: capacity, hashMax: max(1, capacity-1)}
}

// free reports whether a caller of class p may take a slot now; mu is held.
func (s *slots) free(p priority) bool {
	if s.used >= s.capacity {
		return false
	}
	if p == priorityLogin {
		return true
	}
	return s.hashUsed < s.hashMax && s.waiting[priorityLogin].Len() == 0
}

func (s *slots) take(p priority) {
	s.used++
	if p == priorityNewHash {
		s.hashUsed++
	}
}

// acquire takes a slot, waiting at most timeout, or until ctx ends. It returns ok false when no
// slot came in time, and whether the wait ended because of ctx.
func (s *slots) acquire(ctx context.Context, p priority, timeout time.Duration) (ok, cancelled bool) {
	s.mu.Lock()
	if s.waiting[p].Len() == 0 && s.free(p) {
		s.take(p)
		s.mu.Unlock()
		return true, false
	}
	w := &slotWaiter{ready: make(chan struct{})}
	elem := s.waiting[p].PushBack(w)
	s.mu.Unlock()

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-w.ready:
		return true, false
	case <-timer.C:
	case <-ctx.Done():
		cancelled = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if w.granted { // a slot arrived as the wait ended: take it after all
		return true, false
	}
	s.waiting[p].Remove(elem)
	return false, cancelled
}

// release gives back a slot taken by a caller of class p and hands free slots to waiters,
// logins first.
func (s *slots) release(p priority) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.used--
	if p == priorityNewHash {
		s.hashUsed--
	}
	for _, q := range []priority{priorityLogin, priorityNewHash} {
		for s.waiting[q].Len() > 0 && s.free(q) {
			w := s.waiting[q].Remove(s.waiting[q].Front()).(*slotWaiter)
			s.take(q)
			w.granted = true
			close(w.ready)
		}
	}
}

// inUse returns the slots held and, of those, by new-password hashes.
func (s *slots) inUse() (all, hashes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used, s.hashUsed
}
