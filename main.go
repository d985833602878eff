// Command authapi is the user and authentication API: `authapi serve` runs it; see `authapi help`
// for the migration and account administration commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/example/authapi/app"
)

// version is stamped at build time: -ldflags "-X main.version=…".
var version = "dev"

func main() {
	// SIGTERM (Kubernetes, docker stop) and SIGINT (Ctrl-C) start a graceful shutdown.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	cli := app.CLI{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Version: version}
	code := cli.Main(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
