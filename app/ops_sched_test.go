package app_test

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/example/authapi/app/apptest"
)

// readGomaxprocs reads the GOMAXPROCS the binary runs with now from /metrics.
func readGomaxprocs(t *testing.T, s *apptest.Server) int {
	t.Helper()
	return readGauge(t, s, "go_sched_gomaxprocs_threads")
}

// readGauge reads an integer gauge of the binary's /metrics.
func readGauge(t *testing.T, s *apptest.Server, name string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second) // bounds a binary that never listens
	for {
		code, body, err := s.Get(s.Admin + "/metrics")
		if err == nil && code == 200 {
			sc := bufio.NewScanner(strings.NewReader(body))
			for sc.Scan() {
				if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
					n, err := strconv.Atoi(v)
					if err != nil {
						t.Fatalf("%s %q: %v", name, v, err)
					}
					return n
				}
			}
			t.Fatalf("/metrics has no %s", name)
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics: %d %v", code, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// With BCRYPT_PROCESS=false, `serve` gives the runtime one P per low-priority bcrypt slot on top
// of the CPUs (so a hashing thread never holds the P a request needs) only while a hash runs:
// with none running it keeps Go's default, which the hot path is fastest with. Never more than
// the CPUs again, never with bcrypt at normal priority, never over an operator's explicit
// GOMAXPROCS, and never with bcrypt in its child process (the default), where no hash runs here.
func TestProcessBcryptReservesProcs(t *testing.T) {
	t.Parallel()
	cpus := readGomaxprocs(t, apptest.StartServer(t, map[string]string{"BCRYPT_NICE": "0"})) // Go's own default here
	// One database for all: the binaries migrate it under a lock.
	dbURL := apptest.MustCreateDatabase(t)
	for name, tc := range map[string]struct {
		env           map[string]string
		idle, hashing int
	}{
		"threads: one slot per CPU, each with its P": {inThreads(nil), cpus, 2 * cpus},
		"threads, one slot":                          {inThreads(map[string]string{"BCRYPT_CONCURRENCY": "1"}), cpus, cpus + 1},
		"threads, more slots than CPUs":              {inThreads(map[string]string{"BCRYPT_CONCURRENCY": "64"}), cpus, 2 * cpus},
		"normal priority: nothing reserved":          {map[string]string{"BCRYPT_NICE": "0"}, cpus, cpus},
		"explicit GOMAXPROCS is left alone":          {inThreads(map[string]string{"GOMAXPROCS": "3"}), 3, 3},
		"child process (default): nothing reserved":  {nil, cpus, cpus},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// Cost 13: a hash long enough (~0.6 s) to be seen from /metrics while it runs.
			env := map[string]string{"BCRYPT_COST": "13", "DATABASE_URL": dbURL, "REDIS_URL": apptest.RedisURL(t)}
			for k, v := range tc.env {
				env[k] = v
			}
			s := apptest.StartServer(t, env)
			s.WaitReady(30 * time.Second)
			if got := readGomaxprocs(t, s); got != tc.idle {
				t.Fatalf("idle: GOMAXPROCS = %d, want %d (Go's default here: %d)", got, tc.idle, cpus)
			}
			registered := make(chan struct{})
			go func() {
				defer close(registered)
				_, _, _ = s.Do(http.MethodPost, s.Public+"/auth/register", map[string]string{"email": randomEmail(), "password": goodPassword}, "")
			}()
			seen := tc.idle
			for waiting := true; waiting && seen != tc.hashing; {
				select {
				case <-registered:
					waiting = false
				case <-time.After(5 * time.Millisecond):
					seen = readGomaxprocs(t, s)
				}
			}
			if seen != tc.hashing {
				t.Fatalf("while hashing: GOMAXPROCS = %d, want %d", seen, tc.hashing)
			}
			<-registered
			if got := readGomaxprocs(t, s); got != tc.idle {
				t.Fatalf("after the hash: GOMAXPROCS = %d, want %d", got, tc.idle)
			}
		})
	}
}

// inThreads adds BCRYPT_PROCESS=false to env: bcrypt on low-priority threads of the service.
func inThreads(env map[string]string) map[string]string {
	out := map[string]string{"BCRYPT_PROCESS": "false"}
	for k, v := range env {
		out[k] = v
	}
	return out
}

// `serve` computes bcrypt in a child process of its own binary, in a session of its own (so the
// kernel's per-session CPU sharing cannot rank the service's request threads behind a login
// flood): logins work through it, a child that dies is replaced without a failed login, and
// the child ends with the service, even one killed outright.
func TestProcessBcryptChild(t *testing.T) {
	t.Parallel()
	s := apptest.StartServer(t, map[string]string{"DATABASE_URL": apptest.MustCreateDatabase(t), "REDIS_URL": apptest.RedisURL(t)})
	s.WaitReady(30 * time.Second)
	first := bcryptChildOf(t, s.Pid())
	if first == 0 {
		t.Fatal("no bcrypt-worker child of the service")
	}
	if sid := sessionOf(t, first); sid != first {
		t.Fatalf("child session %d, want its own (%d)", sid, first)
	}
	p := proc{t: t, Server: s}
	email := randomEmail()
	p.register(email)
	p.login(email)

	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Every login succeeds while the child is replaced (a second at most after it is missed).
	waitFor(t, 15*time.Second, "a new bcrypt child", func() bool {
		p.login(email)
		c := bcryptChildOf(t, s.Pid())
		return c != 0 && c != first
	})
	if lost := readGauge(t, s, `bcrypt_child_events_total{event="lost"}`); lost != 1 {
		t.Fatalf("bcrypt_child_events_total lost = %d, want 1", lost)
	}
	second := bcryptChildOf(t, s.Pid())
	s.Signal(syscall.SIGKILL)
	s.Wait(10 * time.Second)
	waitFor(t, 10*time.Second, "the child to end with the service", func() bool {
		return syscall.Kill(second, 0) != nil
	})
}

// A stopped bcrypt child (SIGSTOP; a wedged or starved one alike) holds no login past the
// operation's deadline (2 s at cost 4): the child is killed, the login is computed in the
// service, and a new child starts. Without a deadline every slot stayed pinned until a restart.
func TestProcessBcryptChildHung(t *testing.T) {
	t.Parallel()
	s := apptest.StartServer(t, map[string]string{"DATABASE_URL": apptest.MustCreateDatabase(t), "REDIS_URL": apptest.RedisURL(t)})
	s.WaitReady(30 * time.Second)
	p := proc{t: t, Server: s}
	email := randomEmail()
	p.register(email)
	first := bcryptChildOf(t, s.Pid())
	if first == 0 {
		t.Fatal("no bcrypt-worker child of the service")
	}
	if err := syscall.Kill(first, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(first, syscall.SIGKILL) })
	start := time.Now()
	p.login(email)
	if took := time.Since(start); took > 6*time.Second {
		t.Fatalf("login with a stopped child took %s, want about the 2 s deadline", took)
	}
	if hung := readGauge(t, s, `bcrypt_child_events_total{event="hung"}`); hung != 1 {
		t.Fatalf("bcrypt_child_events_total hung = %d, want 1", hung)
	}
	waitFor(t, 15*time.Second, "a new bcrypt child", func() bool {
		p.login(email)
		c := bcryptChildOf(t, s.Pid())
		return c != 0 && c != first
	})
}

// bcryptChildOf returns the pid of parent's `bcrypt-worker` child, 0 if it has none.
func bcryptChildOf(t *testing.T, parent int) int {
	t.Helper()
	// Each thread lists the children it started; any of the Go runtime's threads may have.
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", parent))
	var kids []string
	for _, task := range tasks {
		raw, _ := os.ReadFile(task)
		kids = append(kids, strings.Fields(string(raw))...)
	}
	for _, f := range kids {
		pid, _ := strconv.Atoi(f)
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if strings.Contains(string(cmdline), "bcrypt-worker") {
			return pid
		}
	}
	return 0
}

// sessionOf reads a process's session id (field 6 of /proc/PID/stat).
func sessionOf(t *testing.T, pid int) int {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	sid, err := strconv.Atoi(f[3])
	if err != nil {
		t.Fatalf("stat %q: %v", raw, err)
	}
	return sid
}

// `serve` collects garbage at GOGC=400 (a quarter as often as Go's default: the live heap is a
// few MiB and a busy instance collected ~14 times a second), unless GOGC is set.
func TestProcessGOGC(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		env  map[string]string
		want int
	}{
		"default":          {nil, 400},
		"explicit is kept": {map[string]string{"GOGC": "100"}, 100},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := readGauge(t, apptest.StartServer(t, tc.env), "go_gc_gogc_percent"); got != tc.want {
				t.Fatalf("GOGC = %d, want %d", got, tc.want)
			}
		})
	}
}
