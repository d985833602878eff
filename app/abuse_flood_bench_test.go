package app_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/example/authapi/app/apptest"
)

// BenchmarkMeDuringLoginFlood measures GET /auth/me over a real socket, alone and while
// goroutines flood POST /auth/login with wrong passwords at the production bcrypt cost (12).
// It reports p50 and p99 of /auth/me, and the flood's logins/s and share of 503s, so the effect
// of bcrypt admission control (BCRYPT_CONCURRENCY, BCRYPT_QUEUE_TIMEOUT) and of running bcrypt
// at low priority (BCRYPT_NICE) can be read off:
//
//	go test ./app -run '^$' -bench MeDuringLoginFlood -benchtime 400x
func BenchmarkMeDuringLoginFlood(b *testing.B) {
	noLimits := map[string]string{"BCRYPT_COST": "12", "LOGIN_MAX_FAILURES_ACCOUNT_ADDR": "1000000000", "LOGIN_MAX_FAILURES_ACCOUNT": "1000000000"}
	with := func(extra map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range noLimits {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		flooders  int
		overrides map[string]string
	}{
		{"alone", 0, noLimits},
		{"flood32/admission=default", 32, noLimits},
		{"flood32/admission=default,nice=0", 32, with(map[string]string{"BCRYPT_NICE": "0"})},
		{"flood32/admission=off", 32, with(map[string]string{"BCRYPT_CONCURRENCY": "4096", "BCRYPT_QUEUE_TIMEOUT": "1m"})},
	} {
		b.Run(tc.name, func(b *testing.B) {
			a := apptest.MustNewApp(b, tc.overrides, nil).App
			procs := runtime.GOMAXPROCS(0)
			a.ReserveProcsForBcrypt(false) // as `authapi serve` does
			b.Cleanup(func() { runtime.GOMAXPROCS(procs) })
			base := apptest.Serve(b, a.Public())
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: time.Minute}
			post := func(path string, body any) (int, []byte) {
				raw, _ := json.Marshal(body)
				resp, err := client.Post(base+path, "application/json", bytes.NewReader(raw))
				if err != nil {
					b.Fatal(err)
				}
				defer resp.Body.Close()
				out, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, out
			}
			email := randomEmail()
			creds := map[string]string{"email": email, "password": goodPassword}
			if status, body := post("/auth/register", creds); status != http.StatusCreated {
				b.Fatalf("register: %d %s", status, body)
			}
			status, body := post("/auth/login", creds)
			var login struct{ Token string }
			if err := json.Unmarshal(body, &login); status != http.StatusOK || err != nil {
				b.Fatalf("login: %d %s", status, body)
			}

			stop := make(chan struct{})
			var wg sync.WaitGroup
			var logins, busy atomic.Int64
			wrong := map[string]string{"email": email, "password": "wrong-password-1"}
			for range tc.flooders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					untilStopped(stop, func() {
						raw, _ := json.Marshal(wrong)
						resp, err := client.Post(base+"/auth/login", "application/json", bytes.NewReader(raw))
						if err != nil {
							return
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						logins.Add(1)
						if resp.StatusCode == http.StatusServiceUnavailable {
							busy.Add(1)
						}
					})
				}()
			}
			if tc.flooders > 0 {
				time.Sleep(500 * time.Millisecond) // let the flood fill the bcrypt queue
			}

			latencies := make([]time.Duration, 0, b.N)
			req, _ := http.NewRequest(http.MethodGet, base+"/auth/me", nil)
			req.Header.Set("Authorization", "Bearer "+login.Token)
			floodStart, floodLogins := time.Now(), logins.Load()
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("/auth/me: %d", resp.StatusCode)
				}
				latencies = append(latencies, time.Since(start))
			}
			b.StopTimer()
			if tc.flooders > 0 {
				// /auth/me may finish in less than a few bcrypt compares; count the flood's
				// logins over at least two seconds so logins/s means something.
				time.Sleep(time.Until(floodStart.Add(2 * time.Second)))
			}
			elapsed, flooded := time.Since(floodStart), logins.Load()-floodLogins
			close(stop)
			wg.Wait()

			slices.Sort(latencies)
			ms := func(q float64) float64 {
				return float64(latencies[int(q*float64(len(latencies)-1))]) / float64(time.Millisecond)
			}
			b.ReportMetric(ms(0.5), "p50-ms")
			b.ReportMetric(ms(0.99), "p99-ms")
			if tc.flooders > 0 {
				b.ReportMetric(float64(flooded)/elapsed.Seconds(), "logins/s")
				if n := logins.Load(); n > 0 {
					b.ReportMetric(100*float64(busy.Load())/float64(n), "%503")
				}
			}
		})
	}
}
