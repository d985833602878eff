// Command bench is the harness behind `just bench`: it seeds a million users, starts the built
// service and two bare-fasthttp references of GET /auth/me (Bun's pgdriver, as the service, and
// pgx) as separate processes, drives the hot path with wrk (a separate C process) and the
// fixed-rate and login loads with vegeta, prices each middleware with a bench build of the
// chain, and writes a Markdown report and an SVG chart into a results folder.
//
// It lives under app/ because it measures this service and reuses its packages (config, the
// stores, the JWT claims) so the reference does exactly the service's work; it is a main
// package of its own so nothing in the server imports it or vegeta.
//
//	go run ./app/bench -bin bin/authapi -db URL -redis URL -out app/bench/results
//	go run ./app/bench reference ADDR pgdriver|pgx   (a reference server; started by the harness)
//	go run ./app/bench breakdown BIN PROFILE         (a CPU profile by piece of the request)
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"time"
)

func main() {
	if len(os.Args) == 4 && os.Args[1] == "reference" {
		log.Fatal(serveReference(os.Args[2], os.Args[3]))
	}
	if len(os.Args) == 4 && os.Args[1] == "breakdown" {
		shares, err := breakdown(os.Args[2], os.Args[3])
		if err != nil {
			log.Fatal(err)
		}
		for _, s := range shares {
			fmt.Printf("%5.1f%%  %s\n", 100*s.Part, s.Piece)
		}
		return
	}
	var o options
	flag.StringVar(&o.bin, "bin", "bin/authapi", "service binary")
	flag.StringVar(&o.db, "db", "", "Postgres URL of a database the harness may fill (required)")
	flag.StringVar(&o.redis, "redis", "", "Redis URL (required)")
	flag.StringVar(&o.out, "out", "app/bench/results", "folder for report.md and chart.svg")
	flag.IntVar(&o.users, "users", 1_000_000, "users to seed")
	flag.DurationVar(&o.step, "step", 4*time.Second, "length of one load step")
	flag.IntVar(&o.rounds, "rounds", 5, "alternating rounds of service vs references, and of /auth/me alone vs under a login flood")
	flag.IntVar(&o.conns, "conns", 64, "wrk connections for the max-rate /auth/me runs")
	flag.IntVar(&o.chainRounds, "chain-rounds", 2, "alternating rounds per middleware of the cost table (0: no table)")
	flag.StringVar(&o.gomaxprocs, "gomaxprocs", "", "GOMAXPROCS of the service (empty: the service's default)")
	flag.StringVar(&o.bcryptNice, "bcrypt-nice", "", "BCRYPT_NICE of the service (empty: its default, 10; 0 runs bcrypt at normal priority)")
	flag.IntVar(&o.importRows, "import-rows", 1_000_000, "rows of the old service's table in the import scenario")
	flag.BoolVar(&o.importOnly, "import-only", false, "run only the bulk-insert and import scenario (app/bench/import.go)")
	flag.Parse()
	if o.db == "" || o.redis == "" {
		flag.Usage()
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	if o.importOnly {
		if err := printImportBench(ctx, o); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if err := runBench(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type options struct {
	bin, db, redis, out string
	gomaxprocs          string
	bcryptNice          string
	users, rounds       int
	conns, chainRounds  int
	step                time.Duration
	importRows          int
	importOnly          bool
	tmp                 string // scratch folder of this run (wrk script, bench build)
}
