package app_test

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
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

// `serve` gives the runtime one P per low-priority bcrypt slot on top of the CPUs (so a hashing
// thread never holds the P a request needs) only while a hash runs: with none running it keeps
// Go's default, which the hot path is fastest with. Never more than the CPUs again, never with
// bcrypt at normal priority, never over an operator's explicit GOMAXPROCS.
func TestProcessBcryptReservesProcs(t *testing.T) {
	t.Parallel()
	cpus := readGomaxprocs(t, apptest.StartServer(t, map[string]string{"BCRYPT_NICE": "0"})) // Go's own default here
	// One database for all: the binaries migrate it under a lock.
	dbURL := apptest.MustCreateDatabase(t)
	for name, tc := range map[string]struct {
		env           map[string]string
		idle, hashing int
	}{
		"default: one slot per CPU, each with its P": {nil, cpus, 2 * cpus},
		"one slot":                          {map[string]string{"BCRYPT_CONCURRENCY": "1"}, cpus, cpus + 1},
		"more slots than CPUs":              {map[string]string{"BCRYPT_CONCURRENCY": "64"}, cpus, 2 * cpus},
		"normal priority: nothing reserved": {map[string]string{"BCRYPT_NICE": "0"}, cpus, cpus},
		"explicit GOMAXPROCS is left alone": {map[string]string{"GOMAXPROCS": "3"}, 3, 3},
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
