package models

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Hasher runs bcrypt under admission control: at most Concurrency hashes at once, and a caller
// that would wait longer than QueueTimeout for a slot gets a 503 instead of piling up. Logins
// (Verify) go first: a freed slot goes to a waiting login before any new-password hash (Hash:
// register, batch), and with two or more slots hashes leave one to logins (see slots). Each
// hash runs on an OS thread of lower priority (Nice), so a login flood takes the CPU that
// other requests leave idle rather than taking turns with them.
type Hasher struct {
	cost         int
	maxCost      int
	slots        *slots
	queueTimeout time.Duration
	nice         int
	// observeWait receives every slot wait, for metrics; it may be nil.
	observeWait func(wait time.Duration, admitted bool)
	// onRefused is told of every stored hash Verify refused to run; it may be nil.
	onRefused func(cost int, err error)
	// compare is bcrypt.CompareHashAndPassword, or the child process's; a field so a test can
	// see that the dummy comparison really runs (its cost cannot be asserted without timing).
	compare func(hash, password []byte) error
	// generate is bcrypt.GenerateFromPassword, or the child process's.
	generate func(password []byte, cost int) ([]byte, error)
	// process, when set, computes every hash in a child process (see UseProcess).
	process *BcryptProcess

	dummyOnce sync.Once
	dummyHash []byte

	// onRun is told when a low-priority hash starts (true) and ends (false); see OnRun.
	onRun func(running bool)
}

// HasherOptions configures a Hasher.
type HasherOptions struct {
	Cost int
	// MaxCost is the costliest stored hash Verify runs (BCRYPT_MAX_COST); a costlier one fails
	// closed. 0 means DefaultBcryptMaxCost; below Cost it is Cost.
	MaxCost      int
	Concurrency  int
	QueueTimeout time.Duration
	// Nice is the niceness (1..19) of the threads bcrypt runs on; 0 runs it on the caller's
	// thread at normal priority. CheckThreadPriority tells whether the platform allows it.
	Nice int
	// ObserveWait receives every slot wait, for metrics; it may be nil.
	ObserveWait func(wait time.Duration, admitted bool)
	// OnRefused is told of every stored hash that Verify refused to run: its cost when it is
	// costlier than MaxCost, or the error reading it (cost 0). For a log line and a metric; it
	// may be nil.
	OnRefused func(cost int, err error)
}

// DefaultBcryptMaxCost is BCRYPT_MAX_COST's default: one compare at cost 14 takes about a
// second on one core of today's servers, four times one at the default BCRYPT_COST of 12.
const DefaultBcryptMaxCost = 14

// NewHasher returns a Hasher with the given options.
func NewHasher(o HasherOptions) *Hasher {
	maxCost := o.MaxCost
	if maxCost == 0 {
		maxCost = DefaultBcryptMaxCost
	}
	return &Hasher{
		cost: o.Cost, maxCost: max(maxCost, o.Cost), slots: newSlots(o.Concurrency), queueTimeout: o.QueueTimeout,
		nice: o.Nice, observeWait: o.ObserveWait, onRefused: o.OnRefused,
		compare: bcrypt.CompareHashAndPassword, generate: bcrypt.GenerateFromPassword,
	}
}

// CheckThreadPriority reports whether this process may run bcrypt at the given niceness
// (Linux, and no seccomp policy refusing setpriority). It spends one short-lived thread.
func CheckThreadPriority(nice int) error {
	var err error
	onLowPriorityThread(func() { err = lowerThreadPriority(nice) })
	return err
}

// Concurrency is the number of bcrypt operations allowed at once.
func (h *Hasher) Concurrency() int { return h.slots.capacity }

// Nice is the niceness of the threads bcrypt runs on; 0 means the caller's thread.
func (h *Hasher) Nice() int { return h.nice }

// OnRun sets fn to be told when each low-priority hash starts (true) and ends (false), from
// the hashing goroutine; the serve command uses it to give the runtime a P for the hashing
// threads only while they run. Call it before the Hasher is used.
func (h *Hasher) OnRun(fn func(running bool)) { h.onRun = fn }

// UseProcess makes p compute every hash from now on: the slots stay here, the CPU time goes to
// p's child process, in a scheduling group of its own (see BcryptProcess). The serve command
// calls it before the Hasher is used; tests and the other commands hash in process.
func (h *Hasher) UseProcess(p *BcryptProcess) {
	h.process, h.compare, h.generate = p, p.Compare, p.Generate
}

// InProcess reports whether hashes run in this process (on low-priority threads when Nice is
// set) rather than in a child process.
func (h *Hasher) InProcess() bool { return h.process == nil }

// Cost is the bcrypt cost of new hashes.
func (h *Hasher) Cost() int { return h.cost }

// MaxCost is the costliest stored hash Verify runs.
func (h *Hasher) MaxCost() int { return h.maxCost }

// Hash returns the bcrypt hash of password; the caller has validated its length. It waits
// behind every login for a slot.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	release, err := h.acquire(ctx, priorityNewHash)
	if err != nil {
		return "", err
	}
	defer release()
	var hash []byte
	h.run(func() { hash, err = h.generate([]byte(password), h.cost) })
	if err != nil {
		return "", &Error{Code: CodeInternal, Message: "internal error", Err: err}
	}
	return string(hash), nil
}

// Verify reports whether password matches hash, and every call costs the same as one compare
// at the Hasher's cost, so that the time of an answer tells nothing about the account:
//   - a nil hash (no such user) is compared against a dummy hash of the Hasher's cost;
//   - a stored hash costlier than MaxCost (or unreadable) is never run: it fails closed, is
//     reported to OnRefused, and the dummy hash is compared instead;
//   - a stored hash cheaper than the Hasher's cost (imported, or from before BCRYPT_COST was
//     raised) is compared, then the difference is spent on real bcrypt work (see pad);
//   - a password over 72 bytes is compared and then refused.
//
// A costlier hash up to MaxCost takes longer; login replaces it (NeedsRehash).
func (h *Hasher) Verify(ctx context.Context, hash *string, password string) (bool, error) {
	release, err := h.acquire(ctx, priorityLogin)
	if err != nil {
		return false, err
	}
	defer release()
	target, cost, usable := h.dummy(), h.cost, false
	if hash != nil {
		c, err := bcrypt.Cost([]byte(*hash))
		switch {
		case err != nil:
			h.refused(0, err)
		case c > h.maxCost:
			h.refused(c, nil)
		default:
			target, cost, usable = []byte(*hash), c, true
		}
	}
	var match bool
	h.run(func() {
		match = h.compare(target, []byte(password)) == nil
		h.pad(cost)
	})
	return match && usable && len(password) <= MaxPasswordBytes, nil
}

// padPassword is what pad hashes: any fixed password will do, the result is thrown away.
var padPassword = []byte("padding-for-timing-0")

// pad spends, after a compare at cost below the Hasher's, the bcrypt work that compare did not
// do. A compare at cost c runs 2^c rounds of the key schedule; hashing once at each cost from c
// to h.cost-1 runs 2^c + 2^(c+1) + … + 2^(h.cost-1) = 2^h.cost - 2^c more, so the whole call
// runs 2^h.cost, as a compare against the dummy hash does, plus one fixed setup per extra hash
// (about a twentieth of a cost-4 hash: a cost-4 hash padded to cost 12 does 0.2% more work).
// Real work, not a sleep: it takes as long as bcrypt does on this machine under this load, and
// it holds the slot a compare at cost would have.
func (h *Hasher) pad(cost int) {
	for c := max(cost, bcrypt.MinCost); c < h.cost; c++ {
		_, _ = h.generate(padPassword, c)
	}
}

func (h *Hasher) refused(cost int, err error) {
	if h.onRefused != nil {
		h.onRefused(cost, err)
	}
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

// run runs one bcrypt operation: with a niceness configured, on a new OS thread at that
// priority, waiting for it. Go cannot prioritise goroutines, but Linux prioritises threads, and
// bcrypt is the only CPU-bound work here: at niceness 10 it gets about a tenth of a CPU that
// a request also wants, and all of one that nothing else wants. (The serve command gives the
// runtime extra Ps while these threads run, so a hashing thread never holds the P a request
// needs; see OnRun.)
func (h *Hasher) run(fn func()) {
	if h.nice == 0 || h.process != nil { // the child process lowers its own priority
		fn()
		return
	}
	if h.onRun != nil {
		h.onRun(true)
		defer h.onRun(false)
	}
	atLowPriority(h.nice, fn)
}

// atLowPriority runs fn on a thread of its own at niceness nice (see onLowPriorityThread). A
// failure to lower it leaves the thread at normal priority: still correct, only less isolated,
// and CheckThreadPriority has already reported it at start.
func atLowPriority(nice int, fn func()) {
	onLowPriorityThread(func() {
		_ = lowerThreadPriority(nice)
		fn()
	})
}

// onLowPriorityThread runs fn on a goroutine locked to its own OS thread and never unlocked:
// when the goroutine exits the runtime ends the thread (or, if it was the main thread, which
// Linux cannot end, parks it for good), so a priority fn lowered cannot leak to other
// goroutines (an unprivileged process cannot raise it back). A new thread costs tens
// of microseconds against bcrypt's hundreds of milliseconds.
func onLowPriorityThread(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		fn()
	}()
	<-done
}

var errQueueTimeout = errors.New("bcrypt queue wait exceeded")

func (h *Hasher) acquire(ctx context.Context, p priority) (release func(), err error) {
	start := time.Now()
	ok, cancelled := h.slots.acquire(ctx, p, h.queueTimeout)
	h.observe(time.Since(start), ok)
	switch {
	case ok:
		return func() { h.slots.release(p) }, nil
	case cancelled:
		return nil, Unavailable("password hashing", ctx.Err())
	}
	return nil, &Error{Code: CodeUnavailable, Message: "server busy, try again", RetryAfter: time.Second, Err: errQueueTimeout}
}

func (h *Hasher) observe(wait time.Duration, admitted bool) {
	if h.observeWait != nil {
		h.observeWait(wait, admitted)
	}
}
