package app_test

import (
	"bufio"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/example/authapi/app/apptest"
)

// gomaxprocs starts the binary with env and reads the GOMAXPROCS it settled on from /metrics.
func gomaxprocs(t *testing.T, env map[string]string) int {
	t.Helper()
	s := apptest.StartServer(t, env)
	deadline := time.Now().Add(10 * time.Second) // bounds a binary that never listens
	for {
		code, body, err := s.Get(s.Admin + "/metrics")
		if err == nil && code == 200 {
			sc := bufio.NewScanner(strings.NewReader(body))
			for sc.Scan() {
				if v, ok := strings.CutPrefix(sc.Text(), "go_sched_gomaxprocs_threads "); ok {
					n, err := strconv.Atoi(v)
					if err != nil {
						t.Fatalf("go_sched_gomaxprocs_threads %q: %v", v, err)
					}
					return n
				}
			}
			t.Fatal("/metrics has no go_sched_gomaxprocs_threads")
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics: %d %v", code, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// `serve` gives the runtime one P per low-priority bcrypt slot on top of the CPUs (so a hashing
// thread never holds the P a request needs), only when bcrypt runs at low priority, never more
// than the CPUs again, and never over an operator's explicit GOMAXPROCS.
func TestProcessBcryptReservesProcs(t *testing.T) {
	t.Parallel()
	cpus := gomaxprocs(t, map[string]string{"BCRYPT_NICE": "0"}) // Go's own default here
	for name, tc := range map[string]struct {
		env  map[string]string
		want int
	}{
		"default: one slot per CPU, each with its P": {nil, 2 * cpus},
		"one slot":                          {map[string]string{"BCRYPT_CONCURRENCY": "1"}, cpus + 1},
		"more slots than CPUs":              {map[string]string{"BCRYPT_CONCURRENCY": "64"}, 2 * cpus},
		"explicit GOMAXPROCS is left alone": {map[string]string{"GOMAXPROCS": "3"}, 3},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := gomaxprocs(t, tc.env); got != tc.want {
				t.Fatalf("GOMAXPROCS = %d, want %d (Go's default here: %d)", got, tc.want, cpus)
			}
		})
	}
}
