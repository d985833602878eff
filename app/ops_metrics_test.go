package app_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/example/authapi/app/apptest"
)

// scrape reads the admin /metrics and parses it with Prometheus's own text parser, so a
// malformed exposition fails the test as it would fail a real scrape.
func scrape(t *testing.T, admin *apptest.Client) map[string]*dto.MetricFamily {
	t.Helper()
	resp := admin.Get("/metrics", "")
	if resp.Status != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", resp.Status, resp.Body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("/metrics Content-Type = %q, want Prometheus text", ct)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(resp.Body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return families
}

// labelsOf returns a metric's labels as a map.
func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// find returns the metric of family name whose labels include want, or nil.
func find(families map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	f := families[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.GetMetric() {
		got := labelsOf(m)
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		return m
	}
	return nil
}

func counterValue(t *testing.T, families map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	m := find(families, name, labels)
	if m == nil {
		t.Fatalf("no %s%v in /metrics", name, labels)
	}
	return m.GetCounter().GetValue()
}

func TestMetricsExposition(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)

	// Traffic that must show up: a login that works, one that fails, a protected call with and
	// without a valid token, a revoked token, and paths that match no route but carry an email
	// and a user id, as a scanner or a confused client would send.
	email := randomEmail()
	user := e.register(email, goodPassword)
	token := e.login(email, goodPassword)
	e.client.Post("/auth/login", map[string]string{"email": email, "password": "wrong-password-1"}, "")
	e.client.Get("/auth/me", token)
	e.client.Get("/auth/me", "not-a-jwt")
	e.client.Get("/auth/me", "")
	_, revoked := e.newUser()
	if r := e.client.Post("/auth/logout", nil, revoked); r.Status != http.StatusNoContent {
		t.Fatalf("logout: %d %s", r.Status, r.Body)
	}
	e.client.Get("/auth/me", revoked)
	userID := user["id"].(string)
	e.client.Get("/users/"+userID, token)
	e.client.Get("/profiles/"+email, "")

	families := scrape(t, e.admin)

	t.Run("OKFamilies", func(t *testing.T) {
		for name, typ := range map[string]dto.MetricType{
			"http_requests_total":                dto.MetricType_COUNTER,
			"http_request_duration_seconds":      dto.MetricType_HISTOGRAM,
			"http_requests_in_flight":            dto.MetricType_GAUGE,
			"auth_events_total":                  dto.MetricType_COUNTER,
			"bcrypt_queue_wait_seconds":          dto.MetricType_HISTOGRAM,
			"go_goroutines":                      dto.MetricType_GAUGE,
			"process_resident_memory_bytes":      dto.MetricType_GAUGE,
			"go_sql_open_connections":            dto.MetricType_GAUGE,
			"go_sql_max_open_connections":        dto.MetricType_GAUGE,
			"go_sql_wait_count_total":            dto.MetricType_COUNTER,
			"redis_pool_total_connections":       dto.MetricType_GAUGE,
			"redis_pool_idle_connections":        dto.MetricType_GAUGE,
			"redis_pool_timeouts_total":          dto.MetricType_COUNTER,
			"redis_pool_hits_total":              dto.MetricType_COUNTER,
			"go_sql_max_idle_closed_total":       dto.MetricType_COUNTER,
			"go_sql_idle_connections":            dto.MetricType_GAUGE,
			"go_sql_in_use_connections":          dto.MetricType_GAUGE,
			"go_sql_wait_duration_seconds_total": dto.MetricType_COUNTER,
		} {
			f := families[name]
			if f == nil {
				t.Errorf("%s missing from /metrics", name)
				continue
			}
			if f.GetType() != typ {
				t.Errorf("%s is a %v, want %v", name, f.GetType(), typ)
			}
		}
		// The DB stats collector labels its series with the pool's name.
		if m := find(families, "go_sql_max_open_connections", map[string]string{"db_name": "postgres"}); m == nil || m.GetGauge().GetValue() < 1 {
			t.Errorf("go_sql_max_open_connections{db_name=postgres} = %v", m)
		}
	})

	t.Run("OKRequestLabels", func(t *testing.T) {
		for _, name := range []string{"http_requests_total", "http_request_duration_seconds"} {
			want := "method,route,status"
			if name == "http_request_duration_seconds" {
				want = "method,route"
			}
			for _, m := range families[name].GetMetric() {
				var keys []string
				for _, l := range m.GetLabel() {
					keys = append(keys, l.GetName())
				}
				if got := strings.Join(keys, ","); got != want {
					t.Fatalf("%s labels = %s, want %s", name, got, want)
				}
			}
		}
		for _, tc := range []struct {
			labels map[string]string
			min    float64
		}{
			{map[string]string{"method": "POST", "route": "/auth/register", "status": "201"}, 2},
			{map[string]string{"method": "POST", "route": "/auth/login", "status": "200"}, 2},
			{map[string]string{"method": "POST", "route": "/auth/login", "status": "401"}, 1},
			{map[string]string{"method": "GET", "route": "/auth/me", "status": "200"}, 1},
			{map[string]string{"method": "GET", "route": "/auth/me", "status": "401"}, 3},
			// Both unknown paths share one series, whatever they contain.
			{map[string]string{"method": "GET", "route": "unmatched", "status": "404"}, 2},
		} {
			if got := counterValue(t, families, "http_requests_total", tc.labels); got < tc.min {
				t.Errorf("http_requests_total%v = %v, want >= %v", tc.labels, got, tc.min)
			}
		}
		h := find(families, "http_request_duration_seconds", map[string]string{"method": "POST", "route": "/auth/login"})
		if h == nil || h.GetHistogram().GetSampleCount() < 3 {
			t.Fatalf("login duration histogram: %v", h)
		}
		var bounds []float64
		for _, b := range h.GetHistogram().GetBucket() {
			bounds = append(bounds, b.GetUpperBound())
		}
		// Buckets suited to a 1 ms–2 s API: the smallest at 1 ms or less, the largest at 2 s or more.
		if len(bounds) < 8 || bounds[0] > 0.001 || bounds[len(bounds)-1] < 2 {
			t.Fatalf("duration buckets %v do not span 1 ms to 2 s", bounds)
		}
		// The admin listener's own traffic (this scrape) is not counted as API traffic.
		if m := find(families, "http_requests_total", map[string]string{"route": "/metrics"}); m != nil {
			t.Fatalf("admin traffic counted: %v", labelsOf(m))
		}
	})

	t.Run("OKAuthEvents", func(t *testing.T) {
		for _, labels := range []map[string]string{
			{"event": "register", "result": "success"},
			{"event": "login", "result": "success"},
			{"event": "login", "result": "invalid_credentials"},
			{"event": "logout", "result": "success"},
			{"event": "token", "result": "missing"},
			{"event": "token", "result": "invalid"},
			{"event": "token", "result": "revoked"},
		} {
			if got := counterValue(t, families, "auth_events_total", labels); got < 1 {
				t.Errorf("auth_events_total%v = %v", labels, got)
			}
		}
		if m := find(families, "bcrypt_queue_wait_seconds", map[string]string{"admitted": "true"}); m == nil || m.GetHistogram().GetSampleCount() < 3 {
			t.Errorf("bcrypt_queue_wait_seconds{admitted=true}: %v", m)
		}
	})

	t.Run("OKDashboardQueriesExistingMetrics", func(t *testing.T) {
		raw, err := os.ReadFile(filepath.Join("..", "docker", "grafana", "dashboards", "authapi.json"))
		if err != nil {
			t.Fatal(err)
		}
		var dash struct {
			Panels []struct {
				Title   string `json:"title"`
				Targets []struct {
					Expr string `json:"expr"`
				} `json:"targets"`
			} `json:"panels"`
		}
		if err := json.Unmarshal(raw, &dash); err != nil {
			t.Fatalf("dashboard JSON: %v", err)
		}
		// A histogram's series are name_bucket, name_count and name_sum.
		known := map[string]bool{}
		for name, f := range families {
			known[name] = true
			if f.GetType() == dto.MetricType_HISTOGRAM {
				for _, s := range []string{"_bucket", "_count", "_sum"} {
					known[name+s] = true
				}
			}
		}
		selector := regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\{`)
		queries := 0
		for _, p := range dash.Panels {
			for _, target := range p.Targets {
				queries++
				names := selector.FindAllStringSubmatch(target.Expr, -1)
				if len(names) == 0 {
					t.Errorf("panel %q: no metric selector in %q", p.Title, target.Expr)
				}
				for _, n := range names {
					if !known[n[1]] {
						t.Errorf("panel %q queries %s, which /metrics does not serve", p.Title, n[1])
					}
				}
			}
		}
		if queries < 10 {
			t.Fatalf("dashboard has %d queries", queries)
		}
	})

	t.Run("OKNoPersonalDataInLabels", func(t *testing.T) {
		secrets := []string{email, userID, token, revoked, goodPassword, "not-a-jwt", "/profiles/"}
		for name, f := range families {
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					for _, s := range secrets {
						if strings.Contains(l.GetValue(), s) {
							t.Errorf("%s{%s=%q} holds %q", name, l.GetName(), l.GetValue(), s)
						}
					}
				}
			}
		}
	})
}
