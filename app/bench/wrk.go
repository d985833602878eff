package main

import (
	"bufio"
	"bytes"
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// wrk drives the max-rate and paced loads with wrk, a C load generator in a process of its own:
// the vegeta library in this process cost as much CPU as a fifth of the service's, and taking it
// from the server that is being measured flatters whichever side does more work per request.
// One wrk thread: on 2 cores it uses well under one, and a second thread only adds contention.
type wrk struct {
	dir string // where the Lua scripts go
}

// wrkScript reports one run as a single line the harness parses; delay() paces each
// connection when WRK_DELAY_MS is set (wrk 4 has no fixed-rate mode; wrk2 is not packaged).
// The pause is drawn from an exponential distribution of mean WRK_DELAY_MS, so the many
// connections together send close to a Poisson stream (the usual open-workload model): with a
// fixed pause, connections held up together by one stall wake up together and keep arriving in
// bursts. wrk truncates delay() to whole milliseconds, so it is rounded here. Paced runs also
// print their latency histogram (microseconds:count, wrk's own buckets) so the harness can pool
// rounds into one set of percentiles.
const wrkScript = `
local delay_ms = tonumber(os.getenv("WRK_DELAY_MS") or "0")
local auth = os.getenv("WRK_AUTH")
local bodies = {}
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end
function init(args)
  math.randomseed(os.time() + 7919 * (thread_id or 0))
  for i = 1, #args do bodies[i] = args[i] end
  if auth ~= nil and auth ~= "" then wrk.headers["Authorization"] = "Bearer " .. auth end
  if #bodies > 0 then
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
  end
end
local n = 0
function request()
  if #bodies == 0 then return wrk.request() end
  n = n % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[n])
end
if delay_ms > 0 then
  function delay() return math.floor(-math.log(1 - math.random()) * delay_ms + 0.5) end
end
function done(s, latency, requests)
  local e = s.errors
  io.write(string.format("WRKRESULT %d %d %d %d %d %d %d %d %d %d %d %d\n",
    s.requests, s.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean, s.bytes, e.timeout))
  if delay_ms > 0 then
    local h = {}
    for i = 1, #latency do -- wrk 4: the i-th distinct latency (µs) and its count
      local us, n = latency(i)
      h[i] = string.format("%d:%d", us, n)
    end
    io.write("WRKHIST ", table.concat(h, " "), "\n")
  end
end
`

func newWrk(dir string) (*wrk, error) {
	if _, err := exec.LookPath("wrk"); err != nil {
		return nil, fmt.Errorf("wrk not found (apt-get install wrk; `just bench` installs it): %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bench.lua"), []byte(wrkScript), 0o644); err != nil {
		return nil, err
	}
	return &wrk{dir: dir}, nil
}

// wrkLoad is one wrk invocation.
type wrkLoad struct {
	name, url, token string
	conns            int
	d                time.Duration
	delayMS          int      // mean of each connection's random pause after an answer (0: none, max rate)
	bodies           []string // POST bodies, cycled; none: GET
	// pid is the server process whose CPU time per answer is reported (0: none). On a
	// machine shared with other jobs it is steadier than req/s, which moves with their load.
	pid int
}

// run runs l and returns its figures; RPS counts answers that were 2xx (wrk counts the others
// as status errors).
func (w *wrk) run(l wrkLoad) (result, error) {
	args := []string{"-t1", fmt.Sprintf("-c%d", l.conns), fmt.Sprintf("-d%ds", int(l.d.Seconds())),
		"--timeout", "10s", "-s", filepath.Join(w.dir, "bench.lua"), l.url}
	if len(l.bodies) > 0 {
		args = append(append(args, "--"), l.bodies...)
	}
	cmd := exec.Command("wrk", args...)
	cmd.Env = append(os.Environ(), "WRK_AUTH="+l.token, "WRK_DELAY_MS="+strconv.Itoa(l.delayMS))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cpu0 := cpuTime(l.pid)
	err := cmd.Run()
	cpu := cpuTime(l.pid) - cpu0
	if err != nil {
		return result{}, fmt.Errorf("wrk %s: %w: %s", l.name, err, out.String())
	}
	var r *result
	var hist map[int64]uint64
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 16<<20) // the histogram line of a paced run: one field per distinct µs
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 0 && f[0] == "WRKHIST" {
			hist = make(map[int64]uint64, len(f)-1)
			for _, kv := range f[1:] {
				k, v, _ := strings.Cut(kv, ":")
				us, err1 := strconv.ParseInt(k, 10, 64)
				n, err2 := strconv.ParseUint(v, 10, 64)
				if err1 != nil || err2 != nil {
					return result{}, fmt.Errorf("wrk %s: bad histogram field %q", l.name, kv)
				}
				hist[us] += n
			}
			continue
		}
		if len(f) != 13 || f[0] != "WRKRESULT" {
			continue
		}
		v := make([]int64, 12)
		for i := range v {
			v[i], _ = strconv.ParseInt(f[i+1], 10, 64)
		}
		us := func(x int64) time.Duration { return time.Duration(x) * time.Microsecond }
		requests, elapsed, sockErr, statusErr := v[0], us(v[1]), v[2], v[3]
		ok := requests - statusErr
		load := fmt.Sprintf("wrk 1 thread, %d connections, max rate, %s", l.conns, l.d)
		if l.delayMS > 0 {
			load = fmt.Sprintf("wrk 1 thread, %d connections, each pausing a random time, mean %d ms (exponential), after an answer, %s", l.conns, l.delayMS, l.d)
		}
		r = &result{
			Name: l.name, Load: load, Requests: uint64(requests), RPS: float64(ok) / elapsed.Seconds(),
			P50: us(v[4]), P90: us(v[5]), P99: us(v[6]), P999: us(v[7]), Max: us(v[8]),
			Codes: map[string]int{"2xx": int(ok), "other": int(statusErr), "socket errors": int(sockErr)},
		}
		if requests > 0 {
			r.Success = float64(ok) / float64(requests)
			r.CPUPerReq = cpu / time.Duration(requests)
		}
	}
	if r == nil {
		return result{}, fmt.Errorf("wrk %s: no result line in: %s", l.name, out.String())
	}
	if l.delayMS > 0 && hist == nil {
		return result{}, fmt.Errorf("wrk %s: no histogram line in: %s", l.name, out.String())
	}
	r.hist = hist
	fmt.Fprintf(os.Stderr, "bench:   %-44s %8.0f req/s  p50 %s  p99 %s  CPU %s/req\n", l.name, r.RPS, ms(r.P50), ms(r.P99), r.CPUPerReq)
	return *r, nil
}

// poolWrk merges paced wrk runs of one load (taken in rounds, with other loads in between) into
// one result: percentiles over the answers of every round, computed from the rounds' latency
// histograms the way wrk computes its own; RPS is the mean of the rounds (each as long as the
// others). RoundP99 keeps each round's own p99.
func poolWrk(name string, rounds []result) result {
	hist := map[int64]uint64{}
	p := result{Name: name, Codes: map[string]int{}}
	var ok, cpu float64
	for _, x := range rounds {
		for us, n := range x.hist {
			hist[us] += n
		}
		p.Requests += x.Requests
		for k, v := range x.Codes {
			p.Codes[k] += v
		}
		ok += x.Success * float64(x.Requests)
		cpu += float64(x.CPUPerReq) * float64(x.Requests)
		p.RPS += x.RPS / float64(len(rounds))
		p.Max = max(p.Max, x.Max)
		p.RoundP99 = append(p.RoundP99, x.P99)
	}
	if len(rounds) > 0 {
		p.Load = fmt.Sprintf("%s; %d rounds, answers pooled", rounds[0].Load, len(rounds))
	}
	if p.Requests > 0 {
		p.Success = ok / float64(p.Requests)
		p.CPUPerReq = time.Duration(cpu / float64(p.Requests))
	}
	keys := slices.Sorted(maps.Keys(hist))
	var count uint64
	for _, n := range hist {
		count += n
	}
	// wrk's stats_percentile: the first latency whose cumulative count reaches
	// round(p/100 × count + 0.5).
	at := func(pct float64) time.Duration {
		rank := uint64(math.Round(pct/100*float64(count) + 0.5))
		var total uint64
		for _, us := range keys {
			total += hist[us]
			if total >= rank {
				return time.Duration(us) * time.Microsecond
			}
		}
		return 0
	}
	p.P50, p.P90, p.P99, p.P999 = at(50), at(90), at(99), at(99.9)
	return p
}

// cpuTime is the user plus system CPU time pid has used so far (all its threads), 0 for pid 0.
func cpuTime(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every Linux in use.
const clockTicks = 100
