package deploycheck

import (
	"crypto/rand"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/example/authapi/app"
	"github.com/example/authapi/config"
)

// dockerDir is the absolute path of docker/, whatever directory the test runs in.
func dockerDir(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller information")
	}
	return filepath.Dir(filepath.Dir(file))
}

// defaults maps every configuration variable the binary reads to its default.
func defaults() map[string]string {
	out := map[string]string{}
	for _, s := range config.Settings {
		out[s.Name] = s.Default
	}
	return out
}

// defaultPort returns the default of a port setting as a number.
func defaultPort(t *testing.T, name string) int {
	t.Helper()
	p, err := strconv.Atoi(defaults()[name])
	if err != nil {
		t.Fatalf("%s default %q is not a port", name, defaults()[name])
	}
	return p
}

// defaultDuration returns the default of a duration setting.
func defaultDuration(t *testing.T, name string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(defaults()[name])
	if err != nil {
		t.Fatalf("%s default %q is not a duration", name, defaults()[name])
	}
	return d
}

// servedRoutes returns the GET routes of the binary's public and admin listeners, built by the
// real app.New (which opens no connection, so no Postgres or Redis is needed here).
func servedRoutes(t *testing.T) (public, admin map[string]bool) {
	t.Helper()
	// Only the routes are read: no mail is sent, so the links may as well be logged.
	cfg, err := config.FromValues(map[string]string{"JWT_SECRET": rand.Text() + rand.Text(), "MAIL_LOG_LINKS": "true"})
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	get := func(routes []fiber.Route) map[string]bool {
		out := map[string]bool{}
		for _, r := range routes {
			if r.Method == fiber.MethodGet {
				out[r.Path] = true
			}
		}
		return out
	}
	return get(a.Public().GetRoutes(true)), get(a.Admin().GetRoutes(true))
}
