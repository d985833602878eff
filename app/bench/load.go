package main

import (
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
	Codes    map[string]int
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
	a := vegeta.NewAttacker(vegeta.Workers(workers), vegeta.MaxWorkers(workers), vegeta.KeepAlive(true),
		vegeta.Connections(int(workers)), vegeta.Timeout(10*time.Second))
	r := run(a, t, vegeta.Rate{Freq: 0}, d, name)
	r.Load = fmtLoad("%d workers, max rate, %s", workers, d)
	return r
}

// openLoop sends at a fixed rate whatever the answers, for latency under a known load.
func openLoop(name string, t vegeta.Targeter, rate int, d time.Duration) result {
	a := vegeta.NewAttacker(vegeta.KeepAlive(true), vegeta.Timeout(10*time.Second))
	r := run(a, t, vegeta.Rate{Freq: rate, Per: time.Second}, d, name)
	r.Load = fmtLoad("%d req/s, %s", rate, d)
	return r
}

func run(a *vegeta.Attacker, t vegeta.Targeter, rate vegeta.Rate, d time.Duration, name string) result {
	var m vegeta.Metrics
	for res := range a.Attack(t, rate, d, name) {
		m.Add(res)
	}
	m.Close()
	ok := float64(m.Requests) * m.Success
	return result{
		Name: name, Requests: m.Requests, Success: m.Success,
		// Over the whole attack, the wait for the last answers included.
		RPS: ok / (m.Duration + m.Wait).Seconds(),
		P50: m.Latencies.P50, P90: m.Latencies.P90, P99: m.Latencies.P99, Max: m.Latencies.Max,
		Codes: m.StatusCodes,
	}
}
