package app

import (
	"context"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/example/authapi/config"
	"github.com/example/authapi/models"
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
	// The last line of a run, after the listeners, the pools and the bcrypt child are closed
	// (deferred before the child's stop, so it runs after it).
	started := time.Now()
	var runErr error
	defer func() {
		if runErr != nil {
			logger.Warn("stopped", "uptime", time.Since(started).Round(time.Millisecond), "err", runErr)
			return
		}
		logger.Info("stopped", "uptime", time.Since(started).Round(time.Millisecond))
	}()
	if stop := a.startBcryptProcess(); stop != nil {
		defer stop()
	} else {
		a.ReserveProcsForBcrypt(os.Getenv("GOMAXPROCS") != "")
	}
	if os.Getenv("GOGC") == "" {
		// The live heap is a few MiB; at GOGC=100 a busy instance collected ~14 times a second
		// (each cycle two stop-the-world pauses, which also wait for a low-priority bcrypt thread
		// to be scheduled). 400 collects a quarter as often for ~15 MiB more heap under load.
		debug.SetGCPercent(400)
	}
	logger.Info("bcrypt", "concurrency", a.hasher.Concurrency(), "nice", a.hasher.Nice(),
		"child_process", !a.hasher.InProcess(), "gomaxprocs", runtime.GOMAXPROCS(0))
	runErr = a.Run(ctx)
	return runErr
}

// bcryptWorkerCommand is the internal subcommand of the bcrypt child process.
const bcryptWorkerCommand = "bcrypt-worker"

// startBcryptProcess moves bcrypt into a child process of this binary, in a session (so a
// scheduling group) of its own at BCRYPT_NICE, when BCRYPT_PROCESS is on and bcrypt runs at
// lower priority at all: see models.BcryptProcess for why. The child starts now, so a broken
// one shows at start rather than at the first login: then hashing stays in this process (nil
// stop) with a warning. A child that dies later is replaced; meanwhile hashes run here on
// low-priority threads. stop ends it.
func (a *App) startBcryptProcess() (stop func()) {
	nice := a.hasher.Nice()
	if !a.cfg.Limits.BcryptProcess || nice == 0 {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		a.logger.Warn("bcrypt child process unavailable: hashing in this process", "err", err)
		return nil
	}
	// /proc/self/exe is the binary this process runs even after a deploy replaced or removed
	// the file at exe, so a child started later (after one died) never speaks another version's
	// protocol; exe stays its name in ps.
	path := exe
	if _, err := os.Stat("/proc/self/exe"); err == nil {
		path = "/proc/self/exe"
	}
	p := models.NewBcryptProcess(models.BcryptProcessOptions{
		Path: path, Name: exe, Args: []string{bcryptWorkerCommand, strconv.Itoa(nice)}, Nice: nice,
		OnEvent: func(event string, pid int, err error) {
			level, attrs := slog.LevelInfo, []any{"event", event, "pid", pid}
			if err != nil {
				level, attrs = slog.LevelWarn, append(attrs, "err", err)
			}
			a.logger.Log(context.Background(), level, "bcrypt child process", attrs...)
			a.metrics.BcryptChildEvent(event)
		},
	})
	if _, err := p.Generate([]byte("start-check"), bcrypt.MinCost); err != nil || p.Pid() == 0 {
		p.Close()
		a.logger.Warn("bcrypt child process unavailable: hashing in this process", "err", err)
		return nil
	}
	a.hasher.UseProcess(p)
	return p.Close
}

// bcryptWorker is the child's side: `authapi bcrypt-worker NICE`, bcrypt requests on stdin,
// answers on stdout, until stdin ends (the service closed it or exited).
func (cli CLI) bcryptWorker(args []string) error {
	if len(args) != 1 {
		return usageError{bcryptWorkerCommand + " is started by serve, with one argument"}
	}
	nice, err := strconv.Atoi(args[0])
	if err != nil || nice < 0 || nice > 19 {
		return usageError{bcryptWorkerCommand + ": niceness 0..19"}
	}
	stdin := cli.Stdin
	if stdin == nil {
		stdin = os.Stdin
	}
	return models.ServeBcrypt(stdin, cli.Stdout, nice)
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
