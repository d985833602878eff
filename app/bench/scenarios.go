package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	"golang.org/x/crypto/bcrypt"
)

const (
	benchPassword = "benchpass1"
	bcryptCost    = 12 // the service's default BCRYPT_COST
)

// newBenchSecret returns a fresh JWT_SECRET: the service refuses any value written in the
// repository.
func newBenchSecret() string { return rand.Text() + rand.Text() }

// runBench runs every scenario in one process lifetime of the service, so all ratios compare
// figures taken minutes apart on the same (noisy, shared) machine.
func runBench(ctx context.Context, o options) error {
	r := &report{Started: time.Now().UTC(), Machine: machine(), Options: o}
	hash, err := bcrypt.GenerateFromPassword([]byte(benchPassword), bcryptCost)
	if err != nil {
		return err
	}
	if o.tmp, err = os.MkdirTemp("", "authapi-bench"); err != nil {
		return err
	}
	defer os.RemoveAll(o.tmp)

	svcPort, adminPort, refPort, pgxPort := freePort(), freePort(), freePort(), freePort()
	w, err := newWrk(o.tmp)
	if err != nil {
		return err
	}
	benchSecret := newBenchSecret()
	env := []string{
		"DATABASE_URL=" + o.db, "REDIS_URL=" + o.redis, "JWT_SECRET=" + benchSecret,
		fmt.Sprintf("PORT=%d", svcPort), fmt.Sprintf("ADMIN_PORT=%d", adminPort),
		"HOST=127.0.0.1", "ADMIN_HOST=127.0.0.1", "LOG_LEVEL=info", "LOG_FORMAT=json",
		fmt.Sprintf("BCRYPT_COST=%d", bcryptCost),
		// The bench logs in from one address many times; failures never happen, but keep the
		// failure limits out of the way of a mistyped run.
		"LOGIN_MAX_FAILURES_ADDR=1000000",
		// pprof is only reached on the admin listener; the profile is taken after the ratio
		// rounds, so its own cost is not in the ratio.
		"ENABLE_PPROF=true",
		// No SMTP server here: registrations' links go to the (discarded) log, as in development.
		"MAIL_LOG_LINKS=true",
	}
	if o.gomaxprocs != "" {
		env = append(env, "GOMAXPROCS="+o.gomaxprocs)
	}
	if o.bcryptNice != "" {
		env = append(env, "BCRYPT_NICE="+o.bcryptNice)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", svcPort)
	ready := fmt.Sprintf("http://127.0.0.1:%d/readyz", adminPort)

	// 1. Migrate (first start of the service), then seed in SQL.
	step("migrate")
	svc, err := start(env, o.bin, "serve")
	if err != nil {
		return err
	}
	if _, err := waitFor(ready, time.Now(), 60*time.Second); err != nil {
		svc.stop()
		return err
	}
	svc.stop()
	step("seed")
	if r.SeedTime, err = seed(ctx, o.db, o.users, string(hash)); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	r.Users = o.users
	deep, err := cursorAt(ctx, o.db, o.users-1000)
	if err != nil {
		return err
	}

	// 2. Start on a migrated database: exec to /readyz 200.
	step("start")
	t0 := time.Now()
	if svc, err = start(env, o.bin, "serve"); err != nil {
		return err
	}
	defer func() { svc.stop() }() // svc is replaced for the last scenario
	if r.StartTime, err = waitFor(ready, t0, 30*time.Second); err != nil {
		return err
	}
	refURL, pgxURL := fmt.Sprintf("http://127.0.0.1:%d/auth/me", refPort), fmt.Sprintf("http://127.0.0.1:%d/auth/me", pgxPort)
	ref, err := start(env, os.Args[0], "reference", fmt.Sprintf("127.0.0.1:%d", refPort), "pgdriver")
	if err != nil {
		return err
	}
	defer ref.stop()
	pgx, err := start(env, os.Args[0], "reference", fmt.Sprintf("127.0.0.1:%d", pgxPort), "pgx")
	if err != nil {
		return err
	}
	defer pgx.stop()
	time.Sleep(time.Second)
	r.IdleRSS, _ = svc.rss()
	r.ChildIdleRSS = anonOf(svc.bcryptChild())

	userTok, err := login(base, "user2@bench.test")
	if err != nil {
		return err
	}
	adminTok, err := login(base, "user1@bench.test")
	if err != nil {
		return err
	}

	// 3. GET /auth/me: the service and both references in turn, the order rotating each round,
	// all driven by wrk from outside every process under test.
	step("me vs references")
	for _, u := range []string{refURL, pgxURL} {
		if err := checkSame(base+"/auth/me", u, userTok); err != nil {
			return err
		}
	}
	meLoad := func(name, url string, pid int) wrkLoad {
		return wrkLoad{name: name, url: url, token: userTok, conns: o.conns, d: o.step, pid: pid}
	}
	sides := []wrkLoad{
		meLoad("service /auth/me", base+"/auth/me", svc.pid()),
		meLoad("reference (fasthttp+pgdriver)", refURL, ref.pid()),
		meLoad("pgx floor (fasthttp+pgx)", pgxURL, pgx.pid()),
	}
	for _, l := range sides { // warm-up: pools filled, code paged in
		l.d = time.Second
		if _, err := w.run(l); err != nil {
			return err
		}
	}
	for i := 0; i < o.rounds; i++ {
		for j := range sides {
			k := (i + j) % len(sides)
			res, err := w.run(sides[k])
			if err != nil {
				return err
			}
			switch k {
			case 0:
				r.MeService = append(r.MeService, res)
			case 1:
				r.MeRef = append(r.MeRef, res)
			case 2:
				r.MePgx = append(r.MePgx, res)
			}
		}
	}

	// p99 at half of the peak the service just reached: wrk connections pausing a random time
	// between requests, calibrated by one short run on the service; the bare references then
	// get the same load, so what the machine itself gives at that rate is in the report.
	step("me at 50% of peak")
	peak, _ := sumRPS(r.MeService)
	half, err := halfPeak(w, []wrkLoad{
		meLoad("service /auth/me at ~50% of peak", base+"/auth/me", svc.pid()),
		meLoad("reference /auth/me at the same load", refURL, ref.pid()),
		meLoad("pgx floor /auth/me at the same load", pgxURL, pgx.pid()),
	}, peak)
	if err != nil {
		return err
	}
	r.Half, r.HalfRef, r.HalfPgx = half[0], half[1], half[2]

	// Where the time goes: a CPU profile of the service under the same load, after the rounds.
	step("profile /auth/me")
	profiled := make(chan error, 1)
	go func() {
		var err error
		r.Breakdown, err = cpuProfile(fmt.Sprintf("http://127.0.0.1:%d", adminPort), o.out, o.step, o.bin)
		profiled <- err
	}()
	time.Sleep(200 * time.Millisecond)
	if r.Profiled, err = w.run(meLoad("service /auth/me, profiled", base+"/auth/me", 0)); err != nil {
		return err
	}
	if err := <-profiled; err != nil {
		fmt.Fprintln(os.Stderr, "bench: profile:", err)
	}

	// What each middleware costs: the chain with one piece switched off, against the whole
	// chain of the same (bench) build in the same rounds.
	if o.chainRounds > 0 {
		step("middleware cost")
		if r.Chain, err = chainCosts(ctx, o, env, w, userTok); err != nil {
			return err
		}
	}
	meSvc := vegeta.NewStaticTargeter(get(base+"/auth/me", userTok))

	// 4. Login at the bcrypt ceiling: one compare timed here, in the same run.
	step("login")
	r.BcryptCompare = timeCompare(hash)
	r.CPUs = runtime.NumCPU()
	loginT := loginTargeter(base, 50)
	// Long enough that the first and last half-finished compares (~0.3 s each) hardly count.
	r.Login = closedLoop("POST /auth/login", loginT, uint64(2*r.CPUs), 4*o.step)

	// 5. Isolation: /auth/me p99 at a fixed rate, alone and under a login flood, with the
	// service in the harness's session (and Redis too, where `just bench` started it so: one
	// scheduling group) and bcrypt in the service's child process (the default). Scenario 7
	// repeats login and isolation with bcrypt on the service's own threads.
	step("isolation")
	r.Iso = isolation(meSvc, loginT, o, r.CPUs, "bcrypt in the child process")
	r.Iso.Groups = schedGroups(ctx, svc, o.db, o.redis)

	// 6. A million users: pages and counts, at a gentle fixed rate so each figure is a latency.
	step("million")
	// The deep offset page scans ~1M index entries per request: a slow rate keeps the figure
	// its cost rather than a queue.
	for _, c := range []struct {
		name, path string
		rate       int
	}{
		{"GET /users (first page)", "/users?per_page=20", 50},
		{fmt.Sprintf("GET /users?cursor (row %d)", o.users-1000), "/users?per_page=20&cursor=" + deep, 50},
		{"GET /users/stats", "/users/stats", 50},
		{fmt.Sprintf("GET /users?page=%d (offset %d)", (o.users-1000)/20, o.users-1020), fmt.Sprintf("/users?per_page=20&page=%d", (o.users-1000)/20), 2},
	} {
		r.Million = append(r.Million, openLoop(c.name, vegeta.NewStaticTargeter(get(base+c.path, adminTok)), c.rate, o.step))
	}
	r.Exact, err = statsExact(ctx, base, adminTok, o.db)
	if err != nil {
		return err
	}
	_, r.PeakRSS = svc.rss()
	r.ChildPeakRSS = anonOf(svc.bcryptChild())

	// 7. The other choice, BCRYPT_PROCESS=false: bcrypt on low-priority threads of the
	// service, which is restarted so (same session as before): login and isolation again.
	step("bcrypt on the service's threads")
	svc.stop()
	if svc, err = start(append(slices.Clone(env), "BCRYPT_PROCESS=false"), o.bin, "serve"); err != nil {
		return err
	}
	if _, err = waitFor(ready, time.Now(), 30*time.Second); err != nil {
		return err
	}
	r.LoginThreads = closedLoop("POST /auth/login, BCRYPT_PROCESS=false", loginT, uint64(2*r.CPUs), 4*o.step)
	r.IsoThreads = isolation(meSvc, loginT, o, r.CPUs, "bcrypt on the service's threads")
	r.IsoThreads.Groups = schedGroups(ctx, svc, o.db, o.redis)
	svc.stop()

	// 8. Bulk writes and `users import`, in scratch databases (app/bench/import.go).
	if r.Import, err = runImportBench(ctx, o, o.importRows, string(hash)); err != nil {
		return err
	}
	r.Finished = time.Now().UTC()
	step("report")
	return r.write(o.out)
}

func step(name string) {
	fmt.Fprintf(os.Stderr, "bench: %s (%s)\n", name, time.Now().UTC().Format("15:04:05"))
}

func login(base, email string) (string, error) {
	body := fmt.Sprintf(`{"email":%q,"password":%q}`, email, benchPassword)
	resp, err := http.Post(base+"/auth/login", "application/json", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Token == "" {
		return "", fmt.Errorf("login %s: status %d", email, resp.StatusCode)
	}
	return out.Token, nil
}

// checkSame makes sure the reference answers what the service answers, byte for byte, so the
// comparison is between equal work.
func checkSame(svcURL, refURL, token string) error {
	fetch := func(url string) (string, error) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return fmt.Sprintf("%d %s", resp.StatusCode, b), err
	}
	a, err := fetch(svcURL)
	if err != nil {
		return err
	}
	b, err := fetch(refURL)
	if err != nil {
		return err
	}
	if a != b || !strings.HasPrefix(a, "200 ") {
		return fmt.Errorf("reference differs from service:\n service:   %s\n reference: %s", a, b)
	}
	return nil
}

// isolation measures /auth/me p99 at a fixed rate, alone then under a login flood, alternating
// for o.rounds rounds, each side's answers pooled into one p99.
func isolation(me, logins vegeta.Targeter, o options, cpus int, where string) isolationResult {
	alone := &pooled{name: "/auth/me alone, " + where}
	underFlood := &pooled{name: "/auth/me under login flood, " + where}
	flood := &pooled{name: "login flood, " + where}
	for range o.rounds {
		alone.openLoopRound(me, 200, o.step)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			flood.closedLoopRound(logins, uint64(4*cpus), o.step+time.Second)
		}()
		time.Sleep(500 * time.Millisecond) // the flood fills the bcrypt slots first
		underFlood.openLoopRound(me, 200, o.step)
		wg.Wait()
	}
	return isolationResult{Alone: alone.result(), Flood: underFlood.result(), Logins: flood.result()}
}

// loginTargeter cycles through n seeded accounts with the right password.
func loginTargeter(base string, n int) vegeta.Targeter {
	targets := make([]vegeta.Target, n)
	for i := range targets {
		targets[i] = post(base+"/auth/login", fmt.Sprintf(`{"email":"user%d@bench.test","password":%q}`, i+2, benchPassword))
	}
	return vegeta.NewStaticTargeter(targets...)
}

// timeCompare returns the median of five bcrypt compares at the hash's cost, on one core.
func timeCompare(hash []byte) time.Duration {
	var ds []time.Duration
	for range 5 {
		t := time.Now()
		_ = bcrypt.CompareHashAndPassword(hash, []byte(benchPassword))
		ds = append(ds, time.Since(t))
	}
	return median(ds)
}
