package app

import (
	"context"
	"os"
	"runtime"

	"github.com/example/authapi/config"
)

func (cli CLI) serve(ctx context.Context, cfg config.Config) error {
	logger := NewLogger(cfg.Log, cli.Stdout)
	a, err := New(cfg, logger)
	if err != nil {
		return err
	}
	a.ReserveProcsForBcrypt(os.Getenv("GOMAXPROCS") != "")
	logger.Info("bcrypt", "concurrency", a.hasher.Concurrency(), "nice", a.hasher.Nice(), "gomaxprocs", runtime.GOMAXPROCS(0))
	return a.Run(ctx)
}

// ReserveProcsForBcrypt gives the Go runtime one P more per bcrypt slot (up to the CPU count)
// when bcrypt runs at low priority.
// A thread hashing at low priority still holds a P while it runs; without spare Ps a request
// goroutine would wait for the runtime's 10 ms preemption instead of the kernel's scheduler,
// which is what honours the lower priority. It is process-wide, so serve (and a benchmark) call
// it, not New; an explicit GOMAXPROCS (explicit is true) is left as the operator set it.
// Setting GOMAXPROCS turns off Go's tracking of later changes to the container's CPU limit.
func (a *App) ReserveProcsForBcrypt(explicit bool) {
	if explicit || a.hasher.Nice() == 0 {
		return
	}
	procs := runtime.GOMAXPROCS(0)
	runtime.GOMAXPROCS(procs + min(a.hasher.Concurrency(), procs))
}
