package models

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// threadNice is the niceness of an OS thread of this process (the raw syscall answers 20-nice).
func threadNice(tid int) (int, error) {
	prio, err := syscall.Getpriority(syscall.PRIO_PROCESS, tid)
	return 20 - prio, err
}

// With a niceness configured, bcrypt runs on a thread at that niceness, and the thread ends with
// the operation: no other goroutine can ever be scheduled on it at the lowered priority.
func TestHasherLowPriorityThread(t *testing.T) {
	const nice = 7
	if err := CheckThreadPriority(nice); err != nil {
		t.Fatalf("CheckThreadPriority: %v (Linux allows any process to lower its own threads)", err)
	}
	h := NewHasher(HasherOptions{Cost: bcrypt.MinCost, Concurrency: 1, QueueTimeout: time.Second, Nice: nice})
	if h.Nice() != nice {
		t.Fatalf("Nice() = %d, want %d", h.Nice(), nice)
	}
	var hashTID, hashNice int
	var hashErr error
	h.compare = func(hash, password []byte) error {
		hashTID = syscall.Gettid()
		hashNice, hashErr = threadNice(hashTID)
		return bcrypt.CompareHashAndPassword(hash, password)
	}

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	callerTID := syscall.Gettid()
	if _, err := h.Verify(context.Background(), nil, "password1"); err != nil {
		t.Fatal(err)
	}
	if hashErr != nil || hashNice != nice {
		t.Fatalf("bcrypt ran at niceness %d (%v), want %d", hashNice, hashErr, nice)
	}
	if hashTID == callerTID {
		t.Fatal("bcrypt ran on the caller's thread")
	}
	if n, err := threadNice(callerTID); err != nil || n != 0 {
		t.Fatalf("caller's thread niceness %d (%v), want 0", n, err)
	}
	if hashTID == os.Getpid() {
		// bcrypt's goroutine ran on the main thread, which the runtime parks for good instead
		// of ending (Linux cannot end a process's main thread: runtime.mexit "wedges" it).
		// The property is the same: no goroutine runs on it again.
		t.Logf("bcrypt ran on the main thread %d: checking that it stays parked", hashTID)
		noGoroutineRunsOn(t, hashTID)
		return
	}
	// The runtime ends a thread whose goroutine exits locked; it does so just after Verify
	// returns, so wait for it (the deadline is for a stuck runtime, not a speed goal).
	task := fmt.Sprintf("/proc/self/task/%d", hashTID)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if _, err := os.Stat(task); errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the bcrypt thread %d is still alive: its lowered priority could serve other goroutines", hashTID)
		}
	}
}

// noGoroutineRunsOn runs goroutines on every P for a while, each yielding often so that they
// move between threads, and fails if any of them runs on thread tid.
func noGoroutineRunsOn(t *testing.T, tid int) {
	t.Helper()
	workers := 4 * runtime.GOMAXPROCS(0)
	seen := make(chan int, workers)
	for range workers {
		go func() {
			hit := 0
			for end := time.Now().Add(200 * time.Millisecond); time.Now().Before(end); runtime.Gosched() {
				if syscall.Gettid() == tid {
					hit = tid
				}
			}
			seen <- hit
		}()
	}
	for range workers {
		if <-seen == tid {
			t.Fatalf("a goroutine ran on the main thread %d after bcrypt lowered its priority", tid)
		}
	}
}

// Hash takes the same path as Verify.
func TestHasherHashLowPriority(t *testing.T) {
	h := NewHasher(HasherOptions{Cost: bcrypt.MinCost, Concurrency: 1, QueueTimeout: time.Second, Nice: 5})
	hash, err := h.Hash(context.Background(), "password1")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := h.Verify(context.Background(), &hash, "password1"); !ok {
		t.Fatal("the hash made on a low-priority thread does not verify")
	}
}
