package app

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/example/authapi/config"
)

func (cli CLI) serve(ctx context.Context, cfg config.Config) error {
	// The access log is one line per request: batched, it is one write per 20 ms at most.
	out := newLogBuffer(cli.Stdout, 64<<10, 20*time.Millisecond)
	defer out.Close()
	logger := NewLogger(cfg.Log, out)
	a, err := New(cfg, logger)
	if err != nil {
		return err
	}
	a.ReserveProcsForBcrypt(os.Getenv("GOMAXPROCS") != "")
	if os.Getenv("GOGC") == "" {
		// The live heap is a few MiB; at GOGC=100 a busy instance collected ~14 times a second
		// (each cycle two stop-the-world pauses, which also wait for a low-priority bcrypt thread
		// to be scheduled). 400 collects a quarter as often for ~15 MiB more heap under load.
		debug.SetGCPercent(400)
	}
	logger.Info("bcrypt", "concurrency", a.hasher.Concurrency(), "nice", a.hasher.Nice(), "gomaxprocs", runtime.GOMAXPROCS(0))
	return a.Run(ctx)
}

// ReserveProcsForBcrypt gives the Go runtime one P more per bcrypt slot (up to the CPU count)
// while low-priority hashes run, and gives them back when none does.
//
// A thread hashing at low priority still holds a P while it runs; without spare Ps a request
// goroutine would wait for the runtime's 10 ms preemption instead of the kernel's scheduler,
// which is what honours the lower priority. Reserving those Ps for good (GOMAXPROCS = 2×CPUs)
// cost GET /auth/me about 10% of its throughput with no login running at all: more Ps than
// cores means more spinning and more wake-ups in the scheduler. So the Ps are added when the
// first hash starts and removed when the last one ends; under a login flood the count rarely
// drops to zero, so the resize (a brief stop-the-world) happens about twice per burst.
//
// It is process-wide, so serve (and a benchmark) call it, not New; an explicit GOMAXPROCS is
// left as the operator set it, and with no hash running Go keeps its own default (which
// follows the container's CPU limit).
func (a *App) ReserveProcsForBcrypt(explicit bool) {
	if explicit || a.hasher.Nice() == 0 {
		return
	}
	r := &procReserve{slots: a.hasher.Concurrency()}
	a.hasher.OnRun(r.hashing)
}

// procReserve counts running low-priority hashes and resizes GOMAXPROCS on 0 ↔ 1.
type procReserve struct {
	mu      sync.Mutex
	slots   int
	running int
}

func (r *procReserve) hashing(start bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if start {
		r.running++
		if r.running == 1 {
			procs := runtime.GOMAXPROCS(0)
			runtime.GOMAXPROCS(procs + min(r.slots, procs))
		}
		return
	}
	r.running--
	if r.running == 0 {
		// Back to Go's default, which also resumes following the CPU limit.
		runtime.SetDefaultGOMAXPROCS()
	}
}
