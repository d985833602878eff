package app_test

import (
	"net"
	"strings"
	"testing"

	"github.com/example/authapi/app"
	"github.com/example/authapi/app/apptest"
)

// TestHealthcheckCommand runs `authapi healthcheck` (the container's HEALTHCHECK) against a real
// admin listener. It uses the process environment (t.Setenv), so it does not run in parallel.
func TestHealthcheckCommand(t *testing.T) {
	point := func(t *testing.T, a *app.App) {
		_, port, err := net.SplitHostPort(serveOn(t, a.Admin()))
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv("JWT_SECRET", apptest.Secret)
		t.Setenv("ADMIN_HOST", "0.0.0.0") // the command asks 127.0.0.1 then
		t.Setenv("ADMIN_PORT", port)
	}
	t.Run("OKReady", func(t *testing.T) {
		point(t, apptest.MustNewApp(t, nil, nil).App)
		if code, out := runCLI(t, "healthcheck"); code != app.ExitOK || !strings.Contains(out, "ready") {
			t.Fatalf("healthcheck: %d %s", code, out)
		}
	})
	t.Run("ErrNotReady", func(t *testing.T) {
		point(t, apptest.MustNewApp(t, map[string]string{"REDIS_URL": "redis://" + deadAddr(t) + "/0"}, nil).App)
		if code, out := runCLI(t, "healthcheck"); code != app.ExitFailed || !strings.Contains(out, "503") || !strings.Contains(out, `"redis":false`) {
			t.Fatalf("healthcheck with Redis down: %d %s", code, out)
		}
	})
	t.Run("ErrNoListener", func(t *testing.T) {
		t.Setenv("JWT_SECRET", apptest.Secret)
		_, port, _ := net.SplitHostPort(deadAddr(t))
		t.Setenv("ADMIN_PORT", port)
		if code, out := runCLI(t, "healthcheck"); code != app.ExitFailed {
			t.Fatalf("healthcheck with nothing listening: %d %s", code, out)
		}
	})
}
