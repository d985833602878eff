package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/example/authapi/app"
	"github.com/example/authapi/app/apptest"
	"github.com/example/authapi/config"
)

// BenchmarkExportLargeHistory exports a user with EXPORT_BENCH_EVENTS audit events (default
// 100,000) from the real binary and reports the service's peak RSS before and after, and the
// export's size and time: the export streams a page of events at a time, so the peak must not
// grow with the history.
//
//	go test ./app -run '^$' -bench ExportLargeHistory -benchtime 1x
func BenchmarkExportLargeHistory(b *testing.B) {
	events := 100_000
	if v, err := strconv.Atoi(os.Getenv("EXPORT_BENCH_EVENTS")); err == nil && v > 0 {
		events = v
	}
	dbURL := apptest.MustCreateDatabase(b)
	p := apptest.StartServer(b, map[string]string{"DATABASE_URL": dbURL, "REDIS_URL": apptest.RedisURL(b)})
	p.WaitReady(30 * time.Second)
	email := randomEmail()
	code, body, err := p.Do(http.MethodPost, p.Public+"/auth/register", map[string]string{"email": email, "password": goodPassword}, "")
	if err != nil || code != http.StatusCreated {
		b.Fatalf("register: %d %s %v", code, body, err)
	}
	var reg struct{ Data struct{ ID string } }
	_ = json.Unmarshal([]byte(body), &reg)
	_, body, _ = p.Do(http.MethodPost, p.Public+"/auth/login", map[string]string{"email": email, "password": goodPassword}, "")
	var login struct{ Token string }
	_ = json.Unmarshal([]byte(body), &login)
	db := app.OpenDB(config.DB{URL: dbURL, MaxConnections: 2, QueryTimeout: 5 * time.Minute})
	defer db.Close()
	_, err = db.ExecContext(context.Background(), `INSERT INTO events (id, type, at, user_id, ip, user_agent, details)
		SELECT gen_random_uuid(), 'session.refreshed', now() - (n || ' seconds')::interval, ?, '192.0.2.1', 'bench', '{"n":1}'
		FROM generate_series(1, ?) AS n`, reg.Data.ID, events)
	if err != nil {
		b.Fatalf("seed events: %v", err)
	}
	before, _ := p.PeakRSS()
	var size int64
	start := time.Now()
	b.ResetTimer()
	for range b.N {
		req, _ := http.NewRequest(http.MethodGet, p.Public+"/auth/me/export", nil)
		req.Header.Set("Authorization", "Bearer "+login.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("export: %v", err)
		}
		size, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	b.StopTimer()
	after, _ := p.PeakRSS()
	b.ReportMetric(float64(events), "events")
	b.ReportMetric(float64(size)/(1<<20), "export-MiB")
	b.ReportMetric(float64(before)/(1<<20), "peakRSS-before-MiB")
	b.ReportMetric(float64(after)/(1<<20), "peakRSS-after-MiB")
	b.ReportMetric(time.Since(start).Seconds()/float64(b.N), "s/export")
}
