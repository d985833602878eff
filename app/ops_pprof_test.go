package app_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestPprof(t *testing.T) {
	t.Parallel()
	t.Run("OKOffByDefault", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, nil)
		for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline"} {
			if r := e.admin.Get(path, ""); r.Status != http.StatusNotFound {
				t.Fatalf("admin %s without ENABLE_PPROF: %d", path, r.Status)
			}
		}
	})
	t.Run("OKAdminOnlyWhenEnabled", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, map[string]string{"ENABLE_PPROF": "true"})
		r := e.admin.Get("/debug/pprof/", "")
		if r.Status != http.StatusOK || !strings.Contains(string(r.Body), "goroutine") {
			t.Fatalf("admin /debug/pprof/: %d %.200s", r.Status, r.Body)
		}
		if r := e.admin.Get("/debug/pprof/cmdline", ""); r.Status != http.StatusOK || len(r.Body) == 0 {
			t.Fatalf("admin /debug/pprof/cmdline: %d", r.Status)
		}
		// Profiling is never exposed on the public listener.
		wantError(t, e.client.Get("/debug/pprof/", ""), http.StatusNotFound, "not_found")
		// The probes and metrics still answer with pprof mounted.
		if r := e.admin.Get("/livez", ""); r.Status != http.StatusOK {
			t.Fatalf("/livez with pprof: %d", r.Status)
		}
	})
}
