package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/example/authapi/app/apptest"
)

// echoed is what the test upstream saw of a request that nginx let through.
type echoed struct {
	Method string
	URI    string
	Header http.Header
	Body   string
}

// startEcho runs the upstream behind the gateway: it answers 200 with what it received, and
// counts the requests that reached it.
func startEcho(t *testing.T) (addr string, hits *atomic.Int64) {
	t.Helper()
	hits = new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(echoed{Method: r.Method, URI: r.RequestURI, Header: r.Header, Body: string(body)})
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), hits
}

// TestNginxGateway runs docker/nginx's configuration in a real nginx, with authapi (over a real
// socket) deciding and an echo server as the upstream: a live token passes with the identity in
// X-Auth-* headers, a logged-out one is refused at once, no X-Auth-* header a client writes
// reaches the upstream, /admin/ needs the admin role, and authapi's 503 stays a 503.
func TestNginxGateway(t *testing.T) {
	t.Parallel()
	rd := apptest.StartRedis(t) // its own Redis, to take down at the end
	e := newEnv(t, map[string]string{"REDIS_URL": rd.URL()})
	authapi := apptest.Serve(t, e.app.Public())
	upstream, hits := startEcho(t)
	gateway := apptest.StartNginx(t, strings.TrimPrefix(authapi, "http://"), upstream)

	_, user := e.newUser()
	admin := e.newAdmin()
	client := &http.Client{Timeout: 10 * time.Second}
	send := func(method, path, token string, header map[string]string, body string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, gateway+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for k, v := range header {
			req.Header[k] = []string{v} // as written: no canonical case
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp, raw
	}
	// through sends a request that must reach the upstream, and returns what the upstream saw.
	through := func(method, path, token string, header map[string]string, body string) echoed {
		t.Helper()
		resp, raw := send(method, path, token, header, body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %d %s, want the upstream's 200", method, path, resp.StatusCode, raw)
		}
		var got echoed
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatalf("upstream answer %s: %v", raw, err)
		}
		return got
	}
	// refused sends a request that nginx must answer itself with status.
	refused := func(status int, path, token string) *http.Response {
		t.Helper()
		before := hits.Load()
		resp, raw := send(http.MethodGet, path, token, nil, "")
		if resp.StatusCode != status {
			t.Fatalf("GET %s: %d %s, want %d", path, resp.StatusCode, raw, status)
		}
		if hits.Load() != before {
			t.Fatalf("GET %s reached the upstream", path)
		}
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil || body["code"] == nil {
			t.Fatalf("GET %s: body %q is not the error shape", path, raw)
		}
		return resp
	}
	// wantIdentity asserts the X-Auth-* headers the upstream got: exactly authapi's, for token.
	wantIdentity := func(got echoed, token, role string) {
		t.Helper()
		sub := decodeClaims(t, token)["sub"].(string)
		for name, values := range got.Header {
			if !strings.HasPrefix(strings.ToLower(name), "x-auth-") {
				continue
			}
			want := map[string]string{"X-Auth-User-Id": sub, "X-Auth-User-Role": role, "X-Auth-Session-Id": stringOf(decodeClaims(t, token)["sid"])}
			if v, ok := want[name]; !ok || len(values) != 1 || values[0] != v {
				t.Fatalf("the upstream got %s: %q", name, values)
			}
		}
		if got.Header.Get("X-Auth-User-Id") != sub || got.Header.Get("X-Auth-User-Role") != role {
			t.Fatalf("the upstream got identity %q %q, want %s %s", got.Header.Get("X-Auth-User-Id"), got.Header.Get("X-Auth-User-Role"), sub, role)
		}
	}

	t.Run("LiveTokenPasses", func(t *testing.T) {
		got := through(http.MethodGet, "/any/path?x=1&y=%2F", user, map[string]string{"X-Request-ID": "gw-test-1"}, "")
		wantIdentity(got, user, "user")
		if got.URI != "/any/path?x=1&y=%2F" || got.Header.Get("Authorization") != "Bearer "+user || got.Header.Get("X-Request-ID") != "gw-test-1" {
			t.Fatalf("the upstream saw %s with %v", got.URI, got.Header)
		}
		// A body goes to the upstream (the check itself gets none).
		got = through(http.MethodPost, "/orders", user, map[string]string{"Content-Type": "application/json"}, `{"n":1}`)
		if got.Method != http.MethodPost || got.Body != `{"n":1}` || got.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("the upstream saw %s %q %v", got.Method, got.Body, got.Header)
		}
		wantIdentity(got, user, "user")
		// A body larger than nginx's memory buffers goes through its temp files.
		big := strings.Repeat("0123456789abcdef", 200<<10/16)
		if got = through(http.MethodPut, "/blob", user, nil, big); got.Body != big {
			t.Fatalf("the upstream got %d bytes of %d", len(got.Body), len(big))
		}
	})
	t.Run("ClientXAuthHeadersDropped", func(t *testing.T) {
		forged := map[string]string{
			"X-Auth-User-Id":       "00000000-0000-0000-0000-000000000001",
			"x-auth-user-role":     "admin",
			"X-AUTH-SESSION-ID":    "stolen",
			"X-Auth-Request-Email": "root@example.com",
			"X-Auth-Admin":         "true",
			"X-Auth-User-Id-":      "x",
		}
		wantIdentity(through(http.MethodGet, "/", user, forged, ""), user, "user")
		wantIdentity(through(http.MethodGet, "/admin/panel", admin, forged, ""), admin, "admin")
		// With no token the forged headers buy nothing either.
		before := hits.Load()
		if resp, _ := send(http.MethodGet, "/admin/panel", "", forged, ""); resp.StatusCode != http.StatusUnauthorized || hits.Load() != before {
			t.Fatalf("forged headers with no token: %d", resp.StatusCode)
		}
	})
	t.Run("ErrUnauthorized", func(t *testing.T) {
		for _, tok := range []string{"", "not-a-jwt", user[:len(user)-4] + "AAAA"} {
			if resp := refused(http.StatusUnauthorized, "/", tok); !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("WWW-Authenticate %q", resp.Header.Values("WWW-Authenticate"))
			}
		}
	})
	t.Run("RevokedAtOnce", func(t *testing.T) {
		_, tok := e.newUser()
		through(http.MethodGet, "/before", tok, nil, "")
		req, _ := http.NewRequest(http.MethodPost, authapi+"/auth/logout", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("logout: %d", resp.StatusCode)
		}
		refused(http.StatusUnauthorized, "/after", tok)
	})
	t.Run("AdminNeedsRole", func(t *testing.T) {
		refused(http.StatusForbidden, "/admin/", user)
		refused(http.StatusForbidden, "/admin/users?x=1", user)
		refused(http.StatusUnauthorized, "/admin/", "")
		wantIdentity(through(http.MethodGet, "/admin/users", admin, nil, ""), admin, "admin")
		// The admin check covers /admin/ only: a user reaches the rest.
		through(http.MethodGet, "/administrator", user, nil, "")
	})
	t.Run("InternalLocationsUnreachable", func(t *testing.T) {
		for _, path := range []string{"/_authapi_check", "/_authapi_check_admin"} {
			// Not internal for a client: the path is an ordinary protected path under /.
			before := hits.Load()
			if resp, _ := send(http.MethodGet, path, "", nil, ""); resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("GET %s without a token: %d", path, resp.StatusCode)
			}
			if hits.Load() != before {
				t.Fatalf("GET %s without a token reached the upstream", path)
			}
		}
	})
	t.Run("ErrRedisDown", func(t *testing.T) {
		rd.Kill()
		resp := refused(http.StatusServiceUnavailable, "/", user)
		if resp.Header.Get("Retry-After") == "" {
			t.Fatalf("no Retry-After: %v", resp.Header)
		}
	})
}
