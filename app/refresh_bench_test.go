package app_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/example/authapi/app/apptest"
)

// BenchmarkRefreshRace is 20 clients refreshing with one refresh token at once, against the
// real binary over loopback: the tabs of one browser racing after a wake-up. Each round logs in
// (not timed), then releases 20 refreshes together; every one must answer 200 with the same
// pair. It reports the refresh latency's p50 and p99 over all rounds:
//
//	go test ./app -run '^$' -bench RefreshRace -benchtime 30x
func BenchmarkRefreshRace(b *testing.B) {
	const clients = 20
	p := apptest.StartServer(b, map[string]string{"DATABASE_URL": apptest.MustCreateDatabase(b), "REDIS_URL": apptest.RedisURL(b)})
	p.WaitReady(30 * time.Second)
	email := randomEmail()
	if code, body, err := p.Do(http.MethodPost, p.Public+"/auth/register", map[string]string{"email": email, "password": goodPassword}, ""); err != nil || code != http.StatusCreated {
		b.Fatalf("register: %d %s %v", code, body, err)
	}
	var latencies []time.Duration
	var mu sync.Mutex
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		code, body, err := p.Do(http.MethodPost, p.Public+"/auth/login", map[string]string{"email": email, "password": goodPassword}, "")
		var login struct {
			RefreshToken string `json:"refresh_token"`
		}
		if err != nil || code != http.StatusOK || json.Unmarshal([]byte(body), &login) != nil {
			b.Fatalf("login: %d %s %v", code, body, err)
		}
		b.StartTimer()
		start := make(chan struct{})
		pairs := make(chan string, clients)
		var wg sync.WaitGroup
		for range clients {
			wg.Go(func() {
				<-start
				t0 := time.Now()
				code, body, err := p.Do(http.MethodPost, p.Public+"/auth/refresh", map[string]string{"refresh_token": login.RefreshToken}, "")
				d := time.Since(t0)
				var out struct {
					RefreshToken string `json:"refresh_token"`
				}
				if err != nil || code != http.StatusOK || json.Unmarshal([]byte(body), &out) != nil {
					b.Errorf("refresh: %d %s %v", code, body, err)
					return
				}
				mu.Lock()
				latencies = append(latencies, d)
				mu.Unlock()
				pairs <- out.RefreshToken
			})
		}
		close(start)
		wg.Wait()
		close(pairs)
		first := ""
		for pr := range pairs {
			if first == "" {
				first = pr
			} else if pr != first {
				b.Fatal("racing refreshes got different pairs")
			}
		}
	}
	b.StopTimer()
	slices.Sort(latencies)
	if n := len(latencies); n > 0 {
		b.ReportMetric(float64(latencies[n/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(latencies[n*99/100].Microseconds())/1000, "p99-ms")
	}
}
