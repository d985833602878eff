package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"time"
)

// chainVariant is the service with one thing changed: a middleware switched off (the bench
// build reads BENCH_CHAIN_OFF) or a runtime setting.
type chainVariant struct {
	Name string
	Env  []string
	// Setting marks a runtime setting compared with the default rather than a piece left out.
	Setting bool
}

var chainVariants = []chainVariant{
	{"request id", []string{"BENCH_CHAIN_OFF=requestid"}, false},
	{"metrics", []string{"BENCH_CHAIN_OFF=metrics"}, false},
	{"access log (JSON, info, to /dev/null)", []string{"BENCH_CHAIN_OFF=accesslog"}, false},
	{"panic recovery", []string{"BENCH_CHAIN_OFF=recover"}, false},
	{"Content-Encoding guard", []string{"BENCH_CHAIN_OFF=encoding"}, false},
	{"secure headers", []string{"BENCH_CHAIN_OFF=headers"}, false},
	{"readiness gate", []string{"BENCH_CHAIN_OFF=ready"}, false},
	{"all of the above (Fiber, JWT, whitelist, handler left)", []string{"BENCH_CHAIN_OFF=all"}, false},
	// The Ps bcrypt used to keep for good: what the hot path paid for it with no login running.
	{"GOMAXPROCS = 2 × CPUs for good (the old static bcrypt reservation)", []string{"BENCH_CHAIN_OFF=", "GOMAXPROCS=" + strconv.Itoa(2*runtime.NumCPU())}, true},
}

// chainCost is one row of the middleware table: the whole chain and the chain without one
// piece, in alternating rounds.
type chainCost struct {
	Variant       string
	Setting       bool
	Full, Without []result
}

// share is the part of the whole chain's time per request that the piece costs:
// 1 - full/without at saturation (negative: the rounds could not tell it from noise).
func (c chainCost) share() float64 {
	full, _ := sumRPS(c.Full)
	without, _ := sumRPS(c.Without)
	return 1 - full/without
}

// chainCosts builds the bench variant of the binary, starts the whole chain once and each
// variant in turn beside it, and measures both in o.chainRounds alternating rounds.
func chainCosts(ctx context.Context, o options, env []string, w *wrk, token string) ([]chainCost, error) {
	bin := filepath.Join(o.tmp, "authapi-benchchain")
	build := exec.CommandContext(ctx, "go", "build", "-tags", "benchchain", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build -tags benchchain: %w: %s", err, out)
	}
	serve := func(extra []string) (*proc, string, error) { // the process and its /auth/me URL
		port, admin := freePort(), freePort()
		e := append(append(append([]string{}, env...), extra...), fmt.Sprintf("PORT=%d", port), fmt.Sprintf("ADMIN_PORT=%d", admin))
		p, err := start(e, bin, "serve")
		if err != nil {
			return nil, "", err
		}
		if _, err := waitFor(fmt.Sprintf("http://127.0.0.1:%d/readyz", admin), time.Now(), 30*time.Second); err != nil {
			p.stop()
			return nil, "", err
		}
		return p, fmt.Sprintf("http://127.0.0.1:%d/auth/me", port), nil
	}
	full, fullURL, err := serve([]string{"BENCH_CHAIN_OFF="})
	if err != nil {
		return nil, err
	}
	defer full.stop()
	var out []chainCost
	for _, v := range chainVariants {
		p, url, err := serve(v.Env)
		if err != nil {
			return nil, err
		}
		label := "without " + v.Name
		if v.Setting {
			label = "with " + v.Name
		}
		sides := []wrkLoad{
			{name: "whole chain", url: fullURL, token: token, conns: o.conns, d: o.step, pid: full.pid()},
			{name: label, url: url, token: token, conns: o.conns, d: o.step, pid: p.pid()},
		}
		c := chainCost{Variant: v.Name, Setting: v.Setting}
		for i := 0; i < o.chainRounds; i++ {
			for j := range sides {
				k := (i + j) % 2
				res, err := w.run(sides[k])
				if err != nil {
					p.stop()
					return nil, err
				}
				if k == 0 {
					c.Full = append(c.Full, res)
				} else {
					c.Without = append(c.Without, res)
				}
			}
		}
		p.stop()
		out = append(out, c)
	}
	return out, nil
}

// halfRounds is how many rounds each server gets at half of the peak.
const halfRounds = 3

// halfPeak measures sides (the service first, then the bare references) at the same paced
// load, about half of the service's peak: wrk connections each pausing a random time, mean
// pauseMS, after every answer (the pause is exponential, so together the connections send close
// to a Poisson stream; see wrkScript). A short run on the service calibrates the number of
// connections; every side then gets that number and that pause, in halfRounds rounds whose
// order rotates, and each side's answers are pooled. The report shows the rate reached as a
// share of the peak, and the references' p99 at the same load is the machine's own floor.
func halfPeak(w *wrk, sides []wrkLoad, peak float64) ([]result, error) {
	// ~200 connections at the peaks measured here (~16,000 req/s): many independent streams,
	// each far from saturating its connection.
	const pauseMS = 24
	target := peak / 2
	// Each connection sends about one request per (mean pause + latency); latency is well
	// under a millisecond at this load.
	conns := max(1, int(math.Round(target*(pauseMS+0.5)/1000)))
	probe := sides[0]
	probe.conns, probe.delayMS, probe.d = conns, pauseMS, 2*time.Second
	probe.name += " (calibration)"
	got, err := w.run(probe)
	if err != nil {
		return nil, err
	}
	if got.RPS > 0 {
		conns = max(1, int(math.Round(float64(conns)*target/got.RPS)))
	}
	rounds := make([][]result, len(sides))
	for i := range halfRounds {
		for j := range sides {
			k := (i + j) % len(sides)
			l := sides[k]
			l.conns, l.delayMS = conns, pauseMS
			res, err := w.run(l)
			if err != nil {
				return nil, err
			}
			rounds[k] = append(rounds[k], res)
		}
	}
	out := make([]result, len(sides))
	for k, l := range sides {
		out[k] = poolWrk(l.name, rounds[k])
	}
	fmt.Fprintf(os.Stderr, "bench:   half peak: %d connections, mean pause %d ms, service %.0f req/s = %.2f of peak %.0f, p99 %s", conns, pauseMS, out[0].RPS, out[0].RPS/peak, peak, ms(out[0].P99))
	for _, r := range out[1:] {
		fmt.Fprintf(os.Stderr, "; %s p99 %s at %.0f req/s", r.Name, ms(r.P99), r.RPS)
	}
	fmt.Fprintln(os.Stderr)
	return out, nil
}
