package app_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/example/authapi/app/apptest"
)

// TestRedisEvictionPolicy: a Redis that may evict keys is reported (log, metric, /readyz
// warnings) and never makes the service unready; noeviction and a Redis that refuses CONFIG GET
// (as managed services do) report nothing.
func TestRedisEvictionPolicy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		redis   []string // redis-server arguments; nil: the shared test Redis (noeviction)
		policy  string   // the metric's label
		warning bool
	}{
		{"WarnAllKeysLRU", []string{"--maxmemory-policy", "allkeys-lru"}, "allkeys-lru", true},
		{"OKNoEviction", nil, "noeviction", false},
		{"OKConfigRefused", []string{"--rename-command", "CONFIG", ""}, "unknown", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			overrides := map[string]string{"LOG_LEVEL": "info"}
			if tc.redis != nil {
				overrides["REDIS_URL"] = apptest.StartRedis(t, tc.redis...).URL()
			}
			var logs apptest.LogBuffer
			e := envOf(t, apptest.MustNewApp(t, overrides, &logs))
			resp := e.admin.Get("/readyz", "")
			if resp.Status != http.StatusOK {
				t.Fatalf("/readyz = %d %s: the policy must not make the service unready", resp.Status, resp.Body)
			}
			warnings, _ := resp.JSON(t)["warnings"].([]any)
			if got := len(warnings) == 1 && strings.Contains(warnings[0].(string), tc.policy); got != tc.warning {
				t.Fatalf("/readyz warnings %v, want a warning naming %s: %v", warnings, tc.policy, tc.warning)
			}
			want := `redis_maxmemory_policy_warning{policy="` + tc.policy + `"} 0`
			if tc.warning {
				want = strings.TrimSuffix(want, "0") + "1"
			}
			if metrics := string(e.admin.Get("/metrics", "").Body); !strings.Contains(metrics, "\n"+want+"\n") {
				t.Fatalf("/metrics lacks %q", want)
			}
			if logged := strings.Contains(logs.String(), "maxmemory-policy is not noeviction"); logged != tc.warning {
				t.Fatalf("warning logged %v, want %v: %s", logged, tc.warning, logs.String())
			}
		})
	}
	// At start, before any probe: the binary logs the warning on its own.
	t.Run("WarnAtStart", func(t *testing.T) {
		t.Parallel()
		r := apptest.StartRedis(t, "--maxmemory-policy", "volatile-lru")
		s := apptest.StartServer(t, map[string]string{"DATABASE_URL": apptest.MustCreateDatabase(t), "REDIS_URL": r.URL()})
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(s.Log.String(), "maxmemory-policy is not noeviction") {
			if time.Now().After(deadline) {
				t.Fatalf("no warning at start; log:\n%s", s.Log.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}
