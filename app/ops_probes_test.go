package app_test

import (
	"bufio"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/example/authapi/app/apptest"
)

// serveOn runs f on a loopback listener and returns its address. The test shuts f down
// itself; the cleanup only covers a test that failed first.
func serveOn(t *testing.T, f *fiber.App) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = f.Listener(ln) }()
	t.Cleanup(func() { _ = f.ShutdownWithTimeout(time.Second) })
	return ln.Addr().String()
}

// deadAddr returns a loopback address where nothing listens: connections are refused.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// hungAddr returns a loopback address that accepts connections and never answers, as a
// Postgres or Redis stuck on a full disk or a lost lock would.
func hungAddr(t *testing.T) string {
	t.Helper()
	return hangOn(t, "127.0.0.1:0")
}

// hangOn listens on addr, accepting connections and never answering, until the test ends; it
// returns the address.
func hangOn(t *testing.T, addr string) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// probeDeadline is far above the probes' own 1 s dependency deadline and far below the
// 30 s driver timeouts the outage tests configure: a probe that waits for a hung dependency
// instead of its own deadline fails here rather than hanging the suite.
const probeDeadline = 10 * time.Second

func probe(t *testing.T, c *apptest.Client, path string) apptest.Response {
	t.Helper()
	done := make(chan apptest.Response, 1)
	go func() { done <- c.Get(path, "") }()
	select {
	case r := <-done:
		return r
	case <-time.After(probeDeadline):
		t.Fatalf("GET %s did not answer within %s", path, probeDeadline)
		return apptest.Response{}
	}
}

// gatedDatabase returns the URL of a fresh database reached through an open Gate, which the
// test closes to take Postgres away from a service that became ready on it.
func gatedDatabase(t *testing.T) (string, *apptest.Gate) {
	t.Helper()
	u, err := url.Parse(apptest.MustCreateDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	g := apptest.NewGate(t, u.Host)
	g.Open()
	u.Host = "127.0.0.1:" + strconv.Itoa(g.Port)
	return u.String(), g
}

func TestProbesDuringDependencyOutage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// setup returns the settings of a service that can become ready (Prepare needs
		// Postgres, not Redis), and the outage to cause once it is (nil: none needed).
		setup           func(t *testing.T) (map[string]string, func())
		postgres, redis bool
	}{
		{"RedisRefused", func(t *testing.T) (map[string]string, func()) {
			return map[string]string{"REDIS_URL": "redis://" + deadAddr(t) + "/0"}, nil
		}, true, false},
		{"RedisHung", func(t *testing.T) (map[string]string, func()) {
			return map[string]string{"REDIS_URL": "redis://" + hungAddr(t) + "/0", "REDIS_TIMEOUT": "30s"}, nil
		}, true, false},
		{"PostgresRefused", func(t *testing.T) (map[string]string, func()) {
			dbURL, gate := gatedDatabase(t)
			return map[string]string{"DATABASE_URL": dbURL}, gate.Close
		}, false, true},
		{"PostgresHung", func(t *testing.T) (map[string]string, func()) {
			dbURL, gate := gatedDatabase(t)
			return map[string]string{"DATABASE_URL": dbURL, "DB_TIMEOUT": "30s"}, func() {
				gate.Close() // its pooled connections break; new ones reach a Postgres that never answers
				hangOn(t, "127.0.0.1:"+strconv.Itoa(gate.Port))
			}
		}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			settings, outage := tc.setup(t)
			e := newEnv(t, settings)
			if outage != nil {
				outage()
			}
			// Liveness touches no dependency: an outage must not restart the pods.
			if r := probe(t, e.admin, "/livez"); r.Status != http.StatusOK || r.JSON(t)["status"] != "ok" {
				t.Fatalf("/livez: %d %s", r.Status, r.Body)
			}
			for _, c := range []struct {
				name   string
				client *apptest.Client
				path   string
			}{{"admin", e.admin, "/healthz"}, {"admin", e.admin, "/readyz"}, {"public", e.client, "/healthz"}} {
				r := probe(t, c.client, c.path)
				if r.Status != http.StatusServiceUnavailable {
					t.Fatalf("%s %s: %d %s, want 503", c.name, c.path, r.Status, r.Body)
				}
				body := r.JSON(t)
				if body["status"] != "degraded" || body["postgres"] != tc.postgres || body["redis"] != tc.redis {
					t.Fatalf("%s %s: %s, want degraded postgres=%v redis=%v", c.name, c.path, r.Body, tc.postgres, tc.redis)
				}
			}
		})
	}
}

func TestProbesDuringShutdown(t *testing.T) {
	t.Parallel()
	a := apptest.MustNewApp(t, map[string]string{"SHUTDOWN_TIMEOUT": "20s"}, nil).App
	// The server's own word that it is reading a request on a connection (set before it serves).
	reading := make(chan struct{}, 16)
	a.Public().Server().ConnState = func(_ net.Conn, state fasthttp.ConnState) {
		if state == fasthttp.StateActive {
			select {
			case reading <- struct{}{}:
			default:
			}
		}
	}
	publicAddr, adminAddr := serveOn(t, a.Public()), serveOn(t, a.Admin())
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + adminAddr + path)
		if err != nil {
			t.Fatalf("GET %s during shutdown: %v", path, err)
		}
		defer resp.Body.Close()
		var buf [256]byte
		n, _ := resp.Body.Read(buf[:])
		return resp.StatusCode, string(buf[:n])
	}
	if code, body := get("/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz before shutdown: %d %s", code, body)
	}

	// A request in flight on the public listener: headers sent, body not yet. Shutdown must
	// wait for it, and the admin listener keeps answering probes meanwhile.
	conn, err := net.Dial("tcp", publicAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"email":"` + randomEmail() + `","password":"` + goodPassword + `"}`
	head := "POST /auth/register HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
	if _, err := conn.Write([]byte(head + body[:5])); err != nil {
		t.Fatal(err)
	}
	// Shutdown closes idle connections: wait until the server is reading this one's request (a
	// condition, not a sleep that a busy machine could outrun).
	select {
	case <-reading:
	case <-time.After(time.Minute):
		t.Fatal("the server never started reading the in-flight request")
	}

	shutdown := make(chan error, 1)
	go func() { shutdown <- a.Shutdown() }()

	// Readiness turns 503 at once; liveness stays 200 while the process drains.
	var code int
	var text string
	for range 100 {
		if code, text = get("/readyz"); code == http.StatusServiceUnavailable {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz after shutdown began: %d %s", code, text)
	}
	if code, text := get("/livez"); code != http.StatusOK {
		t.Fatalf("/livez during shutdown: %d %s", code, text)
	}
	select {
	case err := <-shutdown:
		t.Fatalf("Shutdown returned (%v) with a request still in flight", err)
	default:
	}

	// The in-flight request completes, with Connection: close, and then shutdown finishes.
	if _, err := conn.Write([]byte(body[5:])); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight request: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || !resp.Close {
		t.Fatalf("in-flight request: %d, Connection: %q; want 201 and close", resp.StatusCode, resp.Header.Get("Connection"))
	}
	select {
	case err := <-shutdown:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(probeDeadline):
		t.Fatalf("Shutdown did not return after the last request finished")
	}
	for _, addr := range []string{publicAddr, adminAddr} {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			t.Fatalf("%s still accepts connections after Shutdown", addr)
		}
	}
}
