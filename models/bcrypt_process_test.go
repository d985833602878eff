//go:build linux

package models

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// bcryptChildEnv makes this test binary act as the bcrypt child (see TestMain).
const bcryptChildEnv = "MODELS_TEST_BCRYPT_CHILD"

// bcryptChildNiceEnv=0 runs that child at normal priority (BenchmarkBcryptCallOverhead).
const bcryptChildNiceEnv = "MODELS_TEST_BCRYPT_CHILD_NICE"

// bcryptParentEnv makes this test binary act as a service with a bcrypt child that is busy
// when it dies (see TestMain and TestBcryptProcessChildDiesWithParent).
const bcryptParentEnv = "MODELS_TEST_BCRYPT_PARENT"

func TestMain(m *testing.M) {
	if os.Getenv(bcryptChildEnv) == "1" {
		nice := 10
		if os.Getenv(bcryptChildNiceEnv) == "0" {
			nice = 0
		}
		if err := ServeBcrypt(os.Stdin, os.Stdout, nice); err != nil {
			fmt.Fprintln(os.Stderr, "bcrypt child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if os.Getenv(bcryptParentEnv) == "1" {
		bcryptParent()
	}
	os.Exit(m.Run())
}

// bcryptParent starts a child, ends a few OS threads of its own (as the low-priority hashing
// threads do: the child must survive that), prints the child's pid, keeps it busy with a long
// hash, and waits to be killed.
func bcryptParent() {
	p := NewBcryptProcess(BcryptProcessOptions{Path: os.Args[0], Env: []string{bcryptChildEnv + "=1"}, Nice: 10,
		Deadline: func(int) time.Duration { return time.Hour }})
	if _, err := p.Generate([]byte("pw"), bcrypt.MinCost); err != nil || p.Pid() == 0 {
		fmt.Println("no child:", err)
		os.Exit(1)
	}
	for range 4 {
		onLowPriorityThread(func() {})
	}
	fmt.Println(p.Pid())
	go func() { _, _ = p.Generate([]byte("pw"), 18) }() // about a minute at niceness 10
	select {}
}

// eventLog records a BcryptProcess's events.
type eventLog struct {
	mu     sync.Mutex
	events []string
}

func (l *eventLog) add(event string, _ int, _ error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, event)
}

func (l *eventLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.events, ",")
}

func newTestBcryptProcess(t *testing.T, path string) (*BcryptProcess, *eventLog) {
	t.Helper()
	events := &eventLog{}
	p := NewBcryptProcess(BcryptProcessOptions{
		Path: path, Env: []string{bcryptChildEnv + "=1"}, Nice: 10, OnEvent: events.add,
	})
	t.Cleanup(p.Close)
	return p, events
}

func TestBcryptProcessComputesInChild(t *testing.T) {
	p, events := newTestBcryptProcess(t, os.Args[0])
	hash, err := p.Generate([]byte("correct horse"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := bcrypt.CompareHashAndPassword(hash, []byte("correct horse")); err != nil {
		t.Fatalf("the child's hash does not verify here: %v", err)
	}
	if err := p.Compare(hash, []byte("correct horse")); err != nil {
		t.Fatalf("right password: %v", err)
	}
	if err := p.Compare(hash, []byte("wrong horse")); !errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
		t.Fatalf("wrong password: %v, want a mismatch", err)
	}
	if err := p.Compare([]byte("not a hash"), []byte("x")); err == nil || errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
		t.Fatalf("malformed hash: %v, want another error", err)
	}
	pid := p.Pid()
	if pid == 0 || pid == os.Getpid() {
		t.Fatalf("child pid %d (this process %d)", pid, os.Getpid())
	}
	if got := events.String(); got != BcryptChildStarted {
		t.Fatalf("events %q, want one start", got)
	}
	// A session of its own (so its own autogroup), at the niceness asked for.
	if sid, err := getsid(pid); err != nil || sid != pid {
		t.Fatalf("child session %d (%v), want its own (%d)", sid, err, pid)
	}
	if ag, err := os.ReadFile(fmt.Sprintf("/proc/%d/autogroup", pid)); err == nil && !strings.Contains(string(ag), "nice 10") {
		t.Fatalf("child autogroup %q, want nice 10", ag)
	}
	// Every thread of the child at niceness 10, including those the runtime started for the
	// hashes above.
	stats, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if len(stats) < 2 {
		t.Fatalf("child threads: %v", stats)
	}
	for _, st := range stats {
		raw, err := os.ReadFile(st)
		if err != nil {
			t.Fatal(err)
		}
		// Field 19 of stat, the 17th after the command name.
		if f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:])); len(f) < 17 || f[16] != "10" {
			t.Fatalf("child thread %s: niceness field %v, want 10", st, f[16:17])
		}
	}
}

func TestBcryptProcessConcurrentAnswersMatch(t *testing.T) {
	p, _ := newTestBcryptProcess(t, os.Args[0])
	hashes := make([][]byte, 6)
	for i := range hashes {
		var err error
		if hashes[i], err = bcrypt.GenerateFromPassword(fmt.Appendf(nil, "password-%d", i), bcrypt.MinCost); err != nil {
			t.Fatal(err)
		}
	}
	// Each answer must reach the call that asked: every goroutine checks its own password
	// against every hash, right for one and wrong for the others.
	var wg sync.WaitGroup
	errs := make(chan error, len(hashes)*len(hashes))
	for i := range hashes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j, h := range hashes {
				err := p.Compare(h, fmt.Appendf(nil, "password-%d", i))
				if (i == j) != (err == nil) {
					errs <- fmt.Errorf("password %d against hash %d: %w", i, j, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestBcryptProcessLostChildLosesNoAnswer(t *testing.T) {
	p, events := newTestBcryptProcess(t, os.Args[0])
	hash, err := bcrypt.GenerateFromPassword([]byte("pw-long-compare"), 12)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Compare(hash, []byte("pw-long-compare")); err != nil { // starts the child
		t.Fatal(err)
	}
	first := p.Pid()
	// Kill the child in the middle of a compare: the caller still gets the right answer.
	answer := make(chan error, 1)
	go func() { answer <- p.Compare(hash, []byte("pw-long-compare")) }()
	time.Sleep(50 * time.Millisecond)
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-answer; err != nil {
		t.Fatalf("compare across the child's death: %v, want a match", err)
	}
	// Until a new child runs (at most one start a second), answers come from this process.
	deadline := time.Now().Add(10 * time.Second)
	for p.Pid() == first || p.Pid() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no new child after the first was killed (events %s)", events)
		}
		if err := p.Compare(hash, []byte("wrong")); !errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
			t.Fatalf("wrong password while the child is replaced: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := events.String(); got != "started,lost,started" {
		t.Fatalf("events %q, want started,lost,started", got)
	}
}

func TestBcryptProcessStartFailureHashesHere(t *testing.T) {
	p, events := newTestBcryptProcess(t, "/nonexistent/authapi")
	hash, err := p.Generate([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Compare(hash, []byte("pw")); err != nil {
		t.Fatalf("compare without a child: %v", err)
	}
	if p.Pid() != 0 || events.String() != BcryptChildStartFailed {
		t.Fatalf("pid %d, events %q: want no child and one failed start (retried at most once a second)", p.Pid(), events)
	}
}

func TestBcryptProcessCloseEndsChild(t *testing.T) {
	p, _ := newTestBcryptProcess(t, os.Args[0])
	if _, err := p.Generate([]byte("pw"), bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	pid := p.Pid()
	p.Close()
	// Close waits for the child, which the reader has reaped: the pid is gone.
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("child %d after Close: kill 0 = %v, want ESRCH", pid, err)
	}
	if p.Pid() != 0 {
		t.Fatal("Pid after Close")
	}
	// A closed process still answers, in this process.
	hash, err := p.Generate([]byte("pw"), bcrypt.MinCost)
	if err != nil || bcrypt.CompareHashAndPassword(hash, []byte("pw")) != nil {
		t.Fatalf("generate after Close: %v", err)
	}
}

// getsid reads a process's session id from /proc (field 6 of stat, after the command name).
func getsid(pid int) (int, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	if len(f) < 4 {
		return 0, fmt.Errorf("short stat %q", raw)
	}
	return strconv.Atoi(f[3])
}

// A field too large for a frame (possible only with BODY_LIMIT_BYTES above 1 MiB) is computed
// here: sent, it would make the child exit on every such login.
func TestBcryptProcessOversizedPasswordStaysHere(t *testing.T) {
	p, events := newTestBcryptProcess(t, os.Args[0])
	hash, err := p.Generate([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	pid := p.Pid()
	huge := make([]byte, maxBcryptField+1)
	if err := p.Compare(hash, huge); !errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
		t.Fatalf("oversized password: %v, want a mismatch", err)
	}
	if err := p.Compare(hash, []byte("pw")); err != nil || p.Pid() != pid || events.String() != BcryptChildStarted {
		t.Fatalf("after it: %v, pid %d (was %d), events %q: want the same child, still answering", err, p.Pid(), pid, events)
	}
}

// A child that stops answering (SIGSTOP here; a wedged or starved one alike) is killed at the
// operation's deadline: the operation is computed here instead, with the right answer, and a
// new child is started. Without a deadline every slot stayed pinned until a restart.
func TestBcryptProcessHungChildReplaced(t *testing.T) {
	const deadline = 300 * time.Millisecond
	events := &eventLog{}
	// The short deadline is for the stopped child only: its successor, at niceness 10 on a
	// busy machine (under -race, a cost-4 hash may take longer than 300 ms), gets a long one.
	var current atomic.Int64
	current.Store(int64(deadline))
	p := NewBcryptProcess(BcryptProcessOptions{Path: os.Args[0], Env: []string{bcryptChildEnv + "=1"}, Nice: 10,
		OnEvent: events.add, Deadline: func(int) time.Duration { return time.Duration(current.Load()) }})
	t.Cleanup(p.Close)
	hash, err := p.Generate([]byte("pw-hung"), bcrypt.MinCost) // starts the child
	if err != nil {
		t.Fatal(err)
	}
	first := p.Pid()
	if err := syscall.Kill(first, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(first, syscall.SIGKILL) })
	start := time.Now()
	errs := make(chan error, 2)
	for _, pw := range []string{"pw-hung", "wrong"} { // two operations pinned on the stopped child
		go func() { errs <- p.Compare(hash, []byte(pw)) }()
	}
	var matched, mismatched int
	for range 2 {
		switch err := <-errs; {
		case err == nil:
			matched++
		case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
			mismatched++
		default:
			t.Fatalf("compare on a stopped child: %v", err)
		}
	}
	if took := time.Since(start); matched != 1 || mismatched != 1 || took > deadline+2*time.Second {
		t.Fatalf("answers %d right, %d wrong after %s; want one each within the deadline %s", matched, mismatched, took, deadline)
	}
	if !waitUntilGone(first, 2*time.Second) {
		t.Fatalf("the stopped child %d is still there", first)
	}
	current.Store(int64(time.Minute))
	// A new child takes over (starts are at most one a second).
	until := time.Now().Add(10 * time.Second)
	for p.Pid() == first || p.Pid() == 0 {
		if time.Now().After(until) {
			t.Fatalf("no new child after the hung one was killed (events %s)", events)
		}
		if err := p.Compare(hash, []byte("pw-hung")); err != nil {
			t.Fatalf("compare while the child is replaced: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := events.String(); got != "started,hung,started" {
		t.Fatalf("events %q, want started,hung,started", got)
	}
}

// The child dies with its parent (Pdeathsig), even in the middle of a long hash, and not
// when one of the parent's threads ends. Closing stdin alone let it finish its hashes first.
func TestBcryptProcessChildDiesWithParent(t *testing.T) {
	parent := exec.Command(os.Args[0], "-test.run=^$")
	parent.Env = append(os.Environ(), bcryptParentEnv+"=1")
	out, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	parent.Stderr = os.Stderr
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = parent.Process.Kill(); _ = parent.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	child, convErr := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || convErr != nil {
		t.Fatalf("parent said %q (%v)", line, err)
	}
	t.Cleanup(func() { _ = syscall.Kill(child, syscall.SIGKILL) })
	time.Sleep(300 * time.Millisecond) // the long hash is under way
	if waitUntilGone(child, 0) {
		t.Fatal("the child died while its parent lives (Pdeathsig from a thread that ended?)")
	}
	if err := parent.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = parent.Wait()
	if !waitUntilGone(child, 2*time.Second) {
		t.Fatalf("child %d still runs after its parent was SIGKILLed", child)
	}
}

// waitUntilGone waits up to timeout for pid to exit (gone, or a zombie nobody reaped yet).
func waitUntilGone(pid int, timeout time.Duration) bool {
	until := time.Now().Add(timeout)
	for {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return true
		}
		if f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:])); len(f) > 0 && (f[0] == "Z" || f[0] == "X") {
			return true
		}
		if time.Now().After(until) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// BenchmarkBcryptLoginThroughput compares logins per second at cost 10 with 8 concurrent
// callers (as wrk -c8) on a Hasher of GOMAXPROCS slots, hashing in this process (at
// BCRYPT_NICE 10 on threads of their own) or in the child, against the ceiling of
// GOMAXPROCS ÷ one compare's time (serial, in process, normal priority):
//
//	go test ./models -run '^$' -bench BcryptLoginThroughput -benchtime 64x -count 3
func BenchmarkBcryptLoginThroughput(b *testing.B) {
	const cost = 10
	hash, err := bcrypt.GenerateFromPassword([]byte("pw-throughput"), cost)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("serial-compare", func(b *testing.B) {
		for range b.N {
			_ = bcrypt.CompareHashAndPassword(hash, []byte("pw-throughput"))
		}
		per := b.Elapsed() / time.Duration(b.N)
		b.ReportMetric(float64(runtime.GOMAXPROCS(0))/per.Seconds(), "ceiling-logins/s")
	})
	for _, child := range []bool{false, true} {
		name := "in-process"
		if child {
			name = "child"
		}
		b.Run(name, func(b *testing.B) {
			h := NewHasher(HasherOptions{Cost: cost, Concurrency: runtime.GOMAXPROCS(0), QueueTimeout: time.Minute, Nice: 10})
			if child {
				p := NewBcryptProcess(BcryptProcessOptions{Path: os.Args[0], Env: []string{bcryptChildEnv + "=1"}, Nice: 10})
				b.Cleanup(p.Close)
				if _, err := p.Generate([]byte("warm"), bcrypt.MinCost); err != nil {
					b.Fatal(err)
				}
				h.UseProcess(p)
			}
			h.WarmUp()
			s := string(hash)
			b.SetParallelism(8 / runtime.GOMAXPROCS(0))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if ok, err := h.Verify(context.Background(), &s, "pw-throughput"); !ok || err != nil {
						b.Errorf("verify: %v %v", ok, err)
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
		})
	}
}

// BenchmarkBcryptCallOverhead times one compare at cost 4 (about a millisecond) made directly
// and through the child: the difference is what the pipe, the frames and the wake-ups of both
// processes cost per login.
//
//	go test ./models -run '^$' -bench BcryptCallOverhead -benchtime 2000x -count 3
func BenchmarkBcryptCallOverhead(b *testing.B) {
	hash, err := bcrypt.GenerateFromPassword([]byte("pw-overhead"), bcrypt.MinCost)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("direct", func(b *testing.B) {
		for range b.N {
			_ = bcrypt.CompareHashAndPassword(hash, []byte("pw-overhead"))
		}
	})
	for _, nice := range []int{0, 10} { // the child serves at nice 10; 0 separates the pipe from the priority
		b.Run(fmt.Sprintf("child-nice%d", nice), func(b *testing.B) {
			env := []string{bcryptChildEnv + "=1"}
			if nice == 0 {
				env = append(env, bcryptChildNiceEnv+"=0")
			}
			p := NewBcryptProcess(BcryptProcessOptions{Path: os.Args[0], Env: env, Nice: nice})
			b.Cleanup(p.Close)
			if _, err := p.Generate([]byte("warm"), bcrypt.MinCost); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				_ = p.Compare(hash, []byte("pw-overhead"))
			}
		})
	}
}
