package main

import (
	"fmt"
	"net/http"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// result is one measured load: what was sent and what came back.
type result struct {
	Name     string
	Load     string // e.g. "32 workers, max rate, 4s" or "200 req/s, 5s"
	Requests uint64
	Success  float64 // share of 2xx
	RPS      float64 // successful responses per second
	P50, P90 time.Duration
	P99, Max time.Duration
	P999     time.Duration // wrk runs only
	// CPUPerReq is the server process's CPU time per request (wrk runs with a pid only).
	CPUPerReq time.Duration
	Codes     map[string]int
	RoundP99  []time.Duration // pooled runs: the p99 of each round
	// hist is a paced wrk run's latency histogram (µs → answers), for pooling rounds.
	hist map[int64]uint64
}

// get builds a GET target with an optional bearer token.
func get(url, token string) vegeta.Target {
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return vegeta.Target{Method: http.MethodGet, URL: url, Header: h}
}

// post builds a POST target with a JSON body.
func post(url, body string) vegeta.Target {
	h := http.Header{"Content-Type": []string{"application/json"}}
	return vegeta.Target{Method: http.MethodPost, URL: url, Body: []byte(body), Header: h}
}

// closedLoop sends as fast as workers allow: each worker waits for its answer before the next
// request, so throughput is the server's capacity at that concurrency.
func closedLoop(name string, t vegeta.Targeter, workers uint64, d time.Duration) result {
	p := &pooled{name: name}
	p.closedLoopRound(t, workers, d)
	r := p.result()
	r.Load = fmtLoad("%d workers, max rate, %s", workers, d)
	return r
}

// openLoop sends at a fixed rate whatever the answers, for latency under a known load.
func openLoop(name string, t vegeta.Targeter, rate int, d time.Duration) result {
	p := &pooled{name: name}
	p.openLoopRound(t, rate, d)
	r := p.result()
	r.Load = fmtLoad("%d req/s, %s", rate, d)
	return r
}

// summarize turns m into a result; elapsed is the time the successes are counted over.
func summarize(m *vegeta.Metrics, name string, elapsed time.Duration) result {
	m.Close()
	ok := float64(m.Requests) * m.Success
	return result{
		Name: name, Requests: m.Requests, Success: m.Success, RPS: ok / elapsed.Seconds(),
		P50: m.Latencies.P50, P90: m.Latencies.P90, P99: m.Latencies.P99, Max: m.Latencies.Max,
		Codes: m.StatusCodes,
	}
}

// pooled measures the same load one or more times (with other loads in between) and reports the
// answers of all rounds together: a p99 over more samples, less at the mercy of one noisy second.
type pooled struct {
	name, load string
	rounds     int
	step       time.Duration
	m          vegeta.Metrics
	// elapsed sums each round's send time and wait for its last answers.
	elapsed time.Duration
	// roundP99 is each round's own p99, to tell one bad round from a steady tail.
	roundP99 []time.Duration
}

// openLoopRound runs one fixed-rate round into p.
func (p *pooled) openLoopRound(t vegeta.Targeter, rate int, d time.Duration) {
	a := vegeta.NewAttacker(vegeta.KeepAlive(true), vegeta.Timeout(10*time.Second))
	p.round(a, t, vegeta.Rate{Freq: rate, Per: time.Second}, d)
	p.load = fmt.Sprintf("%d req/s", rate)
}

// closedLoopRound runs one max-rate round of workers into p.
func (p *pooled) closedLoopRound(t vegeta.Targeter, workers uint64, d time.Duration) {
	a := vegeta.NewAttacker(vegeta.Workers(workers), vegeta.MaxWorkers(workers), vegeta.KeepAlive(true),
		vegeta.Connections(int(workers)), vegeta.Timeout(10*time.Second))
	p.round(a, t, vegeta.Rate{Freq: 0}, d)
	p.load = fmt.Sprintf("%d workers, max rate", workers)
}

func (p *pooled) round(a *vegeta.Attacker, t vegeta.Targeter, rate vegeta.Rate, d time.Duration) {
	var round vegeta.Metrics
	for res := range a.Attack(t, rate, d, p.name) {
		p.m.Add(res)
		round.Add(res)
	}
	round.Close()
	p.roundP99 = append(p.roundP99, round.Latencies.P99)
	p.elapsed += round.Duration + round.Wait
	p.rounds, p.step = p.rounds+1, d
}

func (p *pooled) result() result {
	r := summarize(&p.m, p.name, p.elapsed)
	r.Load = fmt.Sprintf("%s, %d rounds of %s, pooled", p.load, p.rounds, p.step)
	r.RoundP99 = p.roundP99
	return r
}
