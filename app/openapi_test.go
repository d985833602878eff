package app_test

import (
	"bytes"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/example/authapi/app"
	"github.com/example/authapi/app/apptest"
	"github.com/example/authapi/routes"
)

func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)

	resp := e.client.Get("/openapi.json", "")
	if resp.Status != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /openapi.json: %d %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	if !bytes.Equal(resp.Body, routes.OpenAPIDocument()) {
		t.Fatal("GET /openapi.json differs from the embedded routes/openapi.json")
	}
	if resp.JSON(t)["openapi"] != "3.1.0" {
		t.Fatalf("openapi = %v", resp.JSON(t)["openapi"])
	}

	page := e.client.Get("/docs", "")
	if page.Status != http.StatusOK || !strings.HasPrefix(page.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /docs: %d %s", page.Status, page.Header.Get("Content-Type"))
	}
	html := string(page.Body)
	for _, want := range []string{`spec-url="/openapi.json"`, `src="/docs/redoc.standalone.js"`} {
		if !strings.Contains(html, want) {
			t.Fatalf("/docs lacks %s:\n%s", want, html)
		}
	}
	// No internet access needed: nothing is loaded from another origin.
	if strings.Contains(html, "http://") || strings.Contains(html, "https://") {
		t.Fatalf("/docs links another origin:\n%s", html)
	}
	if csp := page.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Fatalf("CSP = %q", csp)
	}

	js := e.client.Get("/docs/redoc.standalone.js", "")
	if js.Status != http.StatusOK || !strings.HasPrefix(js.Header.Get("Content-Type"), "text/javascript") || len(js.Body) < 500_000 {
		t.Fatalf("GET /docs/redoc.standalone.js: %d %s %d bytes", js.Status, js.Header.Get("Content-Type"), len(js.Body))
	}
	if !bytes.Contains(js.Body, []byte("Redoc")) {
		t.Fatal("the script is not the Redoc bundle")
	}
}

// The document and the public router must name the same operations: a route added without
// documentation, or documented but never built, fails here.
func TestOpenAPIRoutesMatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	contract, err := apptest.LoadContract()
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	for path, item := range contract.Doc().Paths.Map() {
		for method := range item.Operations() {
			if method == http.MethodHead {
				continue // served with every GET (GET /auth/check documents its HEAD)
			}
			documented = append(documented, method+" "+path)
		}
	}
	seen := map[string]bool{}
	var served []string
	for _, r := range e.app.Public().GetRoutes(true) {
		if r.Method == http.MethodHead || r.Method == "USE" {
			continue // Fiber adds HEAD for each GET
		}
		path := strings.TrimSuffix(r.Path, "/")
		if path == "" {
			path = "/"
		}
		// Fiber's :name is OpenAPI's {name}.
		segments := strings.Split(path, "/")
		for i, seg := range segments {
			if strings.HasPrefix(seg, ":") {
				segments[i] = "{" + seg[1:] + "}"
			}
		}
		key := r.Method + " " + strings.Join(segments, "/")
		if !seen[key] {
			seen[key] = true
			served = append(served, key)
		}
	}
	sort.Strings(documented)
	sort.Strings(served)
	if strings.Join(documented, "\n") != strings.Join(served, "\n") {
		t.Fatalf("routes differ\ndocumented:\n%s\nserved:\n%s", strings.Join(documented, "\n"), strings.Join(served, "\n"))
	}
}

// The description needs no database, so it answers before the schema is ready, while the API
// behind the readiness gate still refuses.
func TestOpenAPIServedWhileStarting(t *testing.T) {
	t.Parallel()
	_, dbURL := apptest.MustOpenDB(t)
	cfg := apptest.Config(t, dbURL, nil)
	a, err := app.New(cfg, app.NewLogger(cfg.Log, io.Discard))
	if err != nil {
		t.Fatalf("new app: %v", err)
	}
	t.Cleanup(func() { _ = a.Close() })
	c := apptest.NewClient(t, a.Public()) // not marked ready
	for _, path := range []string{"/openapi.json", "/docs"} {
		if resp := c.Get(path, ""); resp.Status != http.StatusOK {
			t.Fatalf("GET %s while starting: %d", path, resp.Status)
		}
	}
	wantError(t, c.Get("/auth/me", ""), http.StatusServiceUnavailable, "unavailable")
}
