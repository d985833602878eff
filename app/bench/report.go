package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun/driver/pgdriver"
)

// report collects every figure of one run.
type report struct {
	Started, Finished time.Time
	Machine           string
	Options           options
	Users             int
	SeedTime          time.Duration
	StartTime         time.Duration
	IdleRSS, PeakRSS  float64
	// The bcrypt child's private memory (RssAnon; its code pages are the service's binary,
	// shared), idle and after the loads.
	ChildIdleRSS, ChildPeakRSS float64
	MeService, MeRef           []result
	MePgx                      []result
	Half                       result // /auth/me at about half of the service's peak
	HalfRef, HalfPgx           result // the bare references at the same paced load (connections, pause)
	Chain                      []chainCost
	Breakdown                  []share // the service's CPU profile under /auth/me, by piece
	Profiled                   result
	BcryptCompare              time.Duration
	CPUs                       int
	Login                      result
	Iso                        isolationResult
	// LoginThreads and IsoThreads are the same with BCRYPT_PROCESS=false.
	LoginThreads result
	IsoThreads   isolationResult
	Million      []result
	Exact        string
	Import       importBench
}

// isolationResult is /auth/me alone and under a login flood, with the scheduling groups it ran in.
type isolationResult struct {
	Alone, Flood, Logins result
	Groups               string
}

func (i isolationResult) ratio() float64 { return float64(i.Flood.P99) / float64(i.Alone.P99) }

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func fmtLoad(format string, workers any, d time.Duration) string {
	return fmt.Sprintf(format, workers, d)
}

func machine() string {
	cpu := "unknown CPU"
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(raw), "\n") {
			if strings.HasPrefix(l, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	mem := "?"
	if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int
		if _, err := fmt.Sscanf(strings.SplitN(string(raw), "\n", 2)[0], "MemTotal: %d kB", &kb); err == nil {
			mem = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")
	return fmt.Sprintf("nproc %d, %s, %s RAM, load average at start %s", runtime.NumCPU(), cpu, mem, strings.Join(strings.Fields(string(load))[:3], " "))
}

// statsExact compares /users/stats with a full count in SQL, once (the request never scans).
func statsExact(ctx context.Context, base, token, dsn string) (string, error) {
	req, _ := http.NewRequest(http.MethodGet, base+"/users/stats", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var api struct{ Total, Active, Suspended, Pending int64 }
	if err := json.NewDecoder(resp.Body).Decode(&api); err != nil {
		return "", err
	}
	db := sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(dsn)))
	defer db.Close()
	var total, active, suspended, pending int64
	err = db.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE status='active'),
		count(*) FILTER (WHERE status='suspended'), count(*) FILTER (WHERE status='pending_verification') FROM users`).
		Scan(&total, &active, &suspended, &pending)
	if err != nil {
		return "", err
	}
	verdict := "exact"
	if api.Total != total || api.Active != active || api.Suspended != suspended || api.Pending != pending {
		verdict = "NOT exact"
	}
	return fmt.Sprintf("%s: API total=%d active=%d suspended=%d pending=%d; SQL count(*) total=%d active=%d suspended=%d pending=%d",
		verdict, api.Total, api.Active, api.Suspended, api.Pending, total, active, suspended, pending), nil
}

func sumRPS(rs []result) (float64, []string) {
	var s float64
	var each []string
	for _, r := range rs {
		s += r.RPS
		each = append(each, fmt.Sprintf("%.0f", r.RPS))
	}
	return s / float64(len(rs)), each
}

// meanCPU is the mean server CPU time per request over wrk runs, in µs.
func meanCPU(rs []result) float64 {
	var s time.Duration
	for _, r := range rs {
		s += r.CPUPerReq
	}
	return float64(s.Microseconds()) / float64(max(len(rs), 1))
}

func msList(ds []time.Duration) string {
	var out []string
	for _, d := range ds {
		out = append(out, ms(d))
	}
	return strings.Join(out, ", ")
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func verdict(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**not met**"
}

// write renders report.md and chart.svg into dir.
func (r *report) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	svc, svcEach := sumRPS(r.MeService)
	ref, refEach := sumRPS(r.MeRef)
	pgx, pgxEach := sumRPS(r.MePgx)
	meRatio, floorRatio, driverRatio := svc/ref, svc/pgx, ref/pgx
	ceiling := float64(r.CPUs) / r.BcryptCompare.Seconds()
	loginRatio := r.Login.RPS / ceiling
	isoRatio, isoThreadsRatio := r.Iso.ratio(), r.IsoThreads.ratio()
	loginThreadsRatio := r.LoginThreads.RPS / ceiling
	halfRatio := float64(r.Half.P99) / float64(max(r.HalfRef.P99, 1))
	first, deep, stats := r.Million[0], r.Million[1], r.Million[2]
	pageRatio := float64(deep.P50) / float64(first.P50)

	w("# Benchmark report")
	w("")
	w("- Run: %s to %s UTC", r.Started.Format("2006-01-02 15:04:05"), r.Finished.Format("15:04:05"))
	w("- Machine: %s", r.Machine)
	w("- Command: `just bench` (= `go run ./app/bench -bin bin/authapi -db … -redis … -out %s -users %d -step %s -rounds %d -conns %d -chain-rounds %d`)", r.Options.out, r.Options.users, r.Options.step, r.Options.rounds, r.Options.conns, r.Options.chainRounds)
	w("- Service: `bin/authapi serve`, LOG_LEVEL=info (JSON access log written to /dev/null), metrics on, BCRYPT_COST=%d, %s", bcryptCost, r.serviceKnobs())
	w("- Load generators, on the same machine: wrk (1 thread, its own process) for every /auth/me throughput figure and the half-peak latency; the vegeta library in the harness for the fixed-rate isolation rounds, login and the million-user pages (low rates).")
	w("- Noise: the machine is shared with other jobs; every target is a ratio of figures from this run.")
	w("")
	w("| target | goal | figure | ratio | verdict |")
	w("|---|---|---|---|---|")
	w("| GET /auth/me vs bare fasthttp reference (same stores, Bun+pgdriver) | ≥ 0.90 | service %.0f req/s, reference %.0f req/s (mean of %d rotating rounds) | %.2f | %s |", svc, ref, len(r.MeService), meRatio, verdict(meRatio >= 0.9))
	w("| GET /auth/me vs the pgx floor (bare fasthttp, pgx) | (reported) | service %.0f req/s, pgx floor %.0f req/s | %.2f | — |", svc, pgx, floorRatio)
	w("| the driver's share: pgdriver reference vs pgx floor | (reported) | %.0f vs %.0f req/s | %.2f | — |", ref, pgx, driverRatio)
	w("| CPU time of the server process per /auth/me (steadier than req/s on a shared machine) | (reported) | service %.0f µs, reference %.0f µs, pgx floor %.0f µs | service/reference %.2f | — |", meanCPU(r.MeService), meanCPU(r.MeRef), meanCPU(r.MePgx), meanCPU(r.MeService)/meanCPU(r.MeRef))
	w("| GET /auth/me p99 at ~50%% of peak | ≤ 2 ms | p99 %s (p50 %s, p99.9 %s) at %.0f req/s = %.2f of peak %.0f | — | %s |", ms(r.Half.P99), ms(r.Half.P50), ms(r.Half.P999), r.Half.RPS, r.Half.RPS/svc, svc, verdict(r.Half.P99 <= 2*time.Millisecond && r.Half.RPS/svc >= 0.45))
	w("| the same load on the bare references | ≤ 1.25 (what the service adds) | reference p99 %s (p50 %s) at %.0f req/s; pgx floor p99 %s (p50 %s) at %.0f req/s | service/reference p99 %.2f (service/pgx %.2f) | %s |", ms(r.HalfRef.P99), ms(r.HalfRef.P50), r.HalfRef.RPS, ms(r.HalfPgx.P99), ms(r.HalfPgx.P50), r.HalfPgx.RPS, halfRatio, float64(r.Half.P99)/float64(max(r.HalfPgx.P99, 1)), verdict(halfRatio <= 1.25))
	w("| Login at the bcrypt ceiling (bcrypt in the child process, the default) | ≥ 0.90 | %.2f logins/s; ceiling %d CPUs ÷ %s = %.2f/s | %.2f | %s |", r.Login.RPS, r.CPUs, ms(r.BcryptCompare), ceiling, loginRatio, verdict(loginRatio >= 0.9))
	w("| /auth/me p99 under a login flood (the default)¹ | ≤ 3 | p99 %s alone, %s under flood | %.2f | %s |", ms(r.Iso.Alone.P99), ms(r.Iso.Flood.P99), isoRatio, verdict(isoRatio <= 3))
	w("| the other choice, BCRYPT_PROCESS=false (bcrypt on the service's threads): login | (reported) | %.2f logins/s | %.2f | — |", r.LoginThreads.RPS, loginThreadsRatio)
	w("| BCRYPT_PROCESS=false: /auth/me p99 under a login flood¹ | (reported) | p99 %s alone, %s under flood | %.2f | — |", ms(r.IsoThreads.Alone.P99), ms(r.IsoThreads.Flood.P99), isoThreadsRatio)
	w("| Deep keyset page vs first page (%d users) | ≤ 1.5 | median %s at row %d vs %s | %.2f | %s |", r.Users, ms(deep.P50), r.Users-1000, ms(first.P50), pageRatio, verdict(pageRatio <= 1.5))
	w("| GET /users/stats median | < 5 ms, exact | %s; %s | — | %s |", ms(stats.P50), r.Exact, verdict(stats.P50 < 5*time.Millisecond && strings.HasPrefix(r.Exact, "exact")))
	w("| `total` of /users as cheap | ≈ stats | first page (items + total) median %s | — | read from the same counter table |", ms(first.P50))
	w("| RSS idle, service + the bcrypt child's private memory² | < 40 MB | %.1f + %.1f MiB | — | %s |", r.IdleRSS, r.ChildIdleRSS, verdict(r.IdleRSS+r.ChildIdleRSS < 40))
	w("| RSS peak (VmHWM) at full load, service + the child's private memory after the loads² | < 150 MB | %.1f + %.1f MiB | — | %s |", r.PeakRSS, r.ChildPeakRSS, verdict(r.PeakRSS+r.ChildPeakRSS < 150))
	w("| exec → /readyz 200, migrated DB | < 1 s | %s | — | %s |", ms(r.StartTime), verdict(r.StartTime < time.Second))
	w("")
	w("Seeding %d users in SQL took %s (0 means the database was already seeded).", r.Users, r.SeedTime.Round(time.Millisecond))
	w("")
	w("GET /auth/me rounds (req/s): service %s; reference %s; pgx floor %s.", strings.Join(svcEach, ", "), strings.Join(refEach, ", "), strings.Join(pgxEach, ", "))
	w("")
	w("The gap to the pgx floor (service/pgx %.2f) is the product of what Fiber and the middleware cost (service/reference %.2f) and the driver's share (reference/pgx %.2f). The three servers use about the same CPU per request in their own processes (%.0f, %.0f, %.0f µs), so most of the driver's share is outside them: pgdriver sends every query as a simple-protocol Query with the argument formatted into the text, so Postgres parses and plans `SELECT … WHERE id = '…'` on each request and answers in text that pgdriver parses; pgx keeps a prepared statement per connection (Bind/Execute only) and reads binary columns. On 2 cores shared with Postgres that server-side work is throughput the service's process never sees. Closing it means another driver (the stack keeps Bun with pgdriver; see app/bench/README.md).", floorRatio, meRatio, driverRatio, meanCPU(r.MeService), meanCPU(r.MeRef), meanCPU(r.MePgx))
	w("")
	w("At ~50%% of peak (%s): p99 of each round, service %s; reference %s; pgx floor %s (the rows above use the p99 of each side's answers pooled over its rounds). Each connection pauses a random time (exponential) after an answer, so together they send close to a Poisson stream; the number of connections was calibrated once, on the service, and every side got the same. At this rate wrk, the server, Redis and Postgres keep the 2 cores about half busy, and every request crosses four processes; the bare handlers' own p99 (reference %s, pgx floor %s) shows what the machine allows, which the service's p99 is measured against in the second row.", r.Half.Load, msList(r.Half.RoundP99), msList(r.HalfRef.RoundP99), msList(r.HalfPgx.RoundP99), ms(r.HalfRef.P99), ms(r.HalfPgx.P99))
	w("")
	r.writeChain(w)
	r.writeBreakdown(w)
	w("¹ Scheduling groups: Linux's autogroup scheduler (on by default outside containers) gives each session one share of the CPU and ranks threads by niceness only inside a session; Postgres backends run in sessions of their own (each calls setsid). With bcrypt on the service's own threads (BCRYPT_PROCESS=false), two hashing threads at niceness 10 make the service's whole session busy, so Postgres, Redis and the load generator compete with the service's request threads as equals and /auth/me waits. By default the service hashes in a child process (`authapi bcrypt-worker`) in a session of its own whose threads and autogroup run at BCRYPT_NICE, so the service's session stays idle between requests and every other session comes first. Default run: %s. BCRYPT_PROCESS=false run: %s.", r.Iso.Groups, r.IsoThreads.Groups)
	w("")
	w("² The bcrypt child (`authapi bcrypt-worker`) is the service's own binary: its code pages are shared with the service, so what it adds is its private (anonymous) memory, `RssAnon` in /proc/PID/status. Its RSS as `ps` shows it also counts those shared pages (about 15 MiB).")
	w("")
	w("/auth/me p99 of each isolation round, default: alone %s; under the login flood %s. BCRYPT_PROCESS=false: alone %s; under the login flood %s (each ratio uses the pooled p99 of all its rounds).", msList(r.Iso.Alone.RoundP99), msList(r.Iso.Flood.RoundP99), msList(r.IsoThreads.Alone.RoundP99), msList(r.IsoThreads.Flood.RoundP99))
	w("")
	w("CPU profile of the service under the /auth/me load (%s): `auth-me.cpu.txt` (top functions), `auth-me.cpu.pprof` (`go tool pprof bin/authapi app/bench/results/auth-me.cpu.pprof`; not committed).", r.Profiled.Load)
	w("")
	w("![latency chart](chart.svg)")
	w("")
	r.Import.write(w)
	w("## Raw figures")
	w("")
	w("| run | load | requests | success | ok req/s | p50 | p90 | p99 | max | status codes |")
	w("|---|---|---|---|---|---|---|---|---|---|")
	all := append(append(append(append([]result{}, r.MeService...), r.MeRef...), r.MePgx...), r.Half, r.HalfRef, r.HalfPgx, r.Profiled, r.Login, r.Iso.Alone, r.Iso.Flood, r.Iso.Logins,
		r.LoginThreads, r.IsoThreads.Alone, r.IsoThreads.Flood, r.IsoThreads.Logins)
	all = append(all, r.Million...)
	for _, x := range all {
		codes, _ := json.Marshal(x.Codes)
		w("| %s | %s | %d | %.1f%% | %.1f | %s | %s | %s | %s | `%s` |", x.Name, x.Load, x.Requests, 100*x.Success, x.RPS, ms(x.P50), ms(x.P90), ms(x.P99), ms(x.Max), codes)
	}
	if err := os.WriteFile(filepath.Join(dir, "report.md"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	chartRows := []result{r.MeService[len(r.MeService)-1], r.MeRef[len(r.MeRef)-1], r.MePgx[len(r.MePgx)-1], r.Half, r.HalfRef, r.HalfPgx, r.Iso.Alone, r.Iso.Flood, r.IsoThreads.Flood, r.Login}
	chartRows = append(chartRows, r.Million...)
	ratios := []ratio{{"me / reference (≥ 0.90)", meRatio, 0.9, false}, {"p99 at half peak, service / reference (≤ 1.25)", halfRatio, 1.25, true},
		{"login / ceiling (≥ 0.9)", loginRatio, 0.9, false}, {"p99 flood / alone (≤ 3)", isoRatio, 3, true},
		{"p99 flood / alone, BCRYPT_PROCESS=false (reported)", isoThreadsRatio, 3, true}, {"deep / first page (≤ 1.5)", pageRatio, 1.5, true}}
	fmt.Fprint(os.Stdout, b.String())
	return os.WriteFile(filepath.Join(dir, "chart.svg"), []byte(chart(chartRows, ratios, r.Machine)), 0o644)
}

// serviceKnobs names the scheduling settings the service ran with.
func (r *report) serviceKnobs() string {
	nice, procs := "BCRYPT_NICE=10 (default)", "BCRYPT_PROCESS=true (default: bcrypt in a child process), GOMAXPROCS default (the CPUs)"
	if r.Options.bcryptNice != "" {
		nice = "BCRYPT_NICE=" + r.Options.bcryptNice
	}
	if r.Options.gomaxprocs != "" {
		procs = "GOMAXPROCS=" + r.Options.gomaxprocs
	}
	return nice + ", " + procs
}

// writeChain renders the middleware cost table.
func (r *report) writeChain(w func(string, ...any)) {
	if len(r.Chain) == 0 {
		return
	}
	w("## What each middleware costs")
	w("")
	w("The bench build of the service (`go build -tags benchchain`) with one piece switched off (BENCH_CHAIN_OFF), against the whole chain of the same build, %d alternating wrk rounds each (%d connections, %s). Share: 1 − whole/without, the part of the whole chain's time per request the piece takes (Postgres, Redis and wrk included). CPU µs: the service process's own CPU time per request, whole chain minus without, read from /proc (steadier than req/s while other jobs share the machine). Differences within ±2%% or ±2 µs are noise.", r.Options.chainRounds, r.Options.conns, r.Options.step)
	w("")
	w("| switched off | whole chain req/s | without req/s | share | CPU µs/request |")
	w("|---|---|---|---|---|")
	var settings []chainCost
	for _, c := range r.Chain {
		if c.Setting {
			settings = append(settings, c)
			continue
		}
		full, fullEach := sumRPS(c.Full)
		without, withoutEach := sumRPS(c.Without)
		w("| %s | %.0f (%s) | %.0f (%s) | %.1f%% | %.0f − %.0f = %.0f |", c.Variant, full, strings.Join(fullEach, ", "), without, strings.Join(withoutEach, ", "), 100*c.share(), meanCPU(c.Full), meanCPU(c.Without), meanCPU(c.Full)-meanCPU(c.Without))
	}
	w("")
	if len(settings) == 0 {
		return
	}
	w("Runtime settings, the same way (no login running):")
	w("")
	w("| setting | default req/s | with the setting req/s | ratio | CPU µs/request, default → with |")
	w("|---|---|---|---|---|")
	for _, c := range settings {
		full, fullEach := sumRPS(c.Full)
		with, withEach := sumRPS(c.Without)
		w("| %s | %.0f (%s) | %.0f (%s) | %.2f | %.0f → %.0f |", c.Variant, full, strings.Join(fullEach, ", "), with, strings.Join(withEach, ", "), with/full, meanCPU(c.Full), meanCPU(c.Without))
	}
	w("")
}

// writeBreakdown renders the CPU profile by piece of the request.
func (r *report) writeBreakdown(w func(string, ...any)) {
	if len(r.Breakdown) == 0 {
		return
	}
	w("## Where the service's CPU goes")
	w("")
	w("The CPU profile of the service under the max-rate /auth/me load, each sample charged to the first piece found walking its stack from the leaf (library code to the piece of ours that called it; `app/bench/breakdown.go`). Postgres, Redis and wrk run in other processes and are not in it.")
	w("")
	w("| piece | share of the service's CPU |")
	w("|---|---|")
	for _, s := range r.Breakdown {
		w("| %s | %.1f%% |", s.Piece, 100*s.Part)
	}
	w("")
}
