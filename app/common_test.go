package app_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/authapi/app/apptest"
)

func TestRequestID(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, tc := range []struct {
		name, sent string
		kept       bool
	}{
		{"OKKept", "abc-123_x.y:z", true},
		{"OKKept128", strings.Repeat("r", 128), true},
		{"OKReplacedTooLong", strings.Repeat("r", 129), false},
		{"OKReplacedNonASCII", "id-é", false},
		{"OKNewWhenAbsent", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, c := range []*apptest.Client{e.client, e.admin} {
				for _, path := range []string{"/healthz", "/no-such-route"} {
					resp := c.Do(apptest.Request{Method: http.MethodGet, Path: path, Header: map[string]string{"X-Request-ID": tc.sent}})
					got := resp.Header.Get("X-Request-ID")
					if got == "" || (tc.kept && got != tc.sent) || (!tc.kept && got == tc.sent) {
						t.Fatalf("%s: sent %q, got %q", path, tc.sent, got)
					}
					if !tc.kept {
						wantServiceRequestID(t, resp)
					}
				}
			}
		})
	}
}

// serviceRequestID is the form of the ids the service makes: a per-process random prefix and a
// counter, never a UUID (README, "Request ids").
var serviceRequestID = regexp.MustCompile(`^[0-9a-f]{16}-[0-9a-z]+$`)

// wantServiceRequestID asserts that resp carries an id the service made, in its header and body.
func wantServiceRequestID(t *testing.T, resp apptest.Response) {
	t.Helper()
	id := resp.Header.Get("X-Request-ID")
	if !serviceRequestID.MatchString(id) {
		t.Fatalf("X-Request-ID %q is not of the service's form (prefix-counter)", id)
	}
	if bytes.Contains(resp.Body, []byte(`"request_id"`)) && !bytes.Contains(resp.Body, []byte(`"request_id":"`+id+`"`)) {
		t.Fatalf("body's request_id differs from X-Request-ID %q: %s", id, resp.Body)
	}
}

func TestNotFoundAndMethod(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	if msg := wantError(t, e.client.Get("/nope", ""), http.StatusNotFound, "not_found"); !strings.HasPrefix(msg, "not found: ") {
		t.Fatalf("error = %q", msg)
	}
	// The admin listener's endpoints do not exist on the public one.
	for _, path := range []string{"/metrics", "/livez", "/readyz"} {
		wantError(t, e.client.Get(path, ""), http.StatusNotFound, "not_found")
	}
	resp := e.client.Do(apptest.Request{Method: http.MethodDelete, Path: "/auth/login"})
	if resp.Status != http.StatusMethodNotAllowed && resp.Status != http.StatusNotFound {
		t.Fatalf("DELETE /auth/login: %d", resp.Status)
	}
	if resp.JSON(t)["code"] == "" {
		t.Fatalf("no error shape: %s", resp.Body)
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"BODY_LIMIT_BYTES": "2048"})
	base := apptest.Serve(t, e.app.Public())
	big := `{"email":"a@example.com","password":"abc12345","pad":"` + strings.Repeat("x", 4096) + `"}`
	httpResp, err := http.Post(base+"/auth/register", "application/json", strings.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	defer httpResp.Body.Close()
	raw, _ := io.ReadAll(httpResp.Body)
	resp := apptest.Response{Status: httpResp.StatusCode, Header: httpResp.Header, Body: raw}
	if msg := wantError(t, resp, http.StatusRequestEntityTooLarge, "payload_too_large"); !strings.HasPrefix(msg, "payload too large: ") {
		t.Fatalf("error = %q", msg)
	}
	wantServiceRequestID(t, resp) // made by the error handler, not the middleware: same form
	if st, _ := e.users.Stats(t.Context()); st.Total != 0 {
		t.Fatalf("an oversized request created a user")
	}
}

// The body limit holds on the routes that take no body too: that 413 is their 4XX in
// openapi.json (redocly's recommended rules want one on every operation).
func TestBodyLimitOnBodilessRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"BODY_LIMIT_BYTES": "2048"})
	contract, err := apptest.LoadContract()
	if err != nil {
		t.Fatal(err)
	}
	base := apptest.Serve(t, e.app.Public())
	for _, path := range []string{"/healthz", "/openapi.json", "/docs", "/docs/redoc.standalone.js"} {
		if contract.Doc().Paths.Find(path).Get.Responses.Status(http.StatusRequestEntityTooLarge) == nil {
			t.Fatalf("openapi.json: GET %s lists no 413", path)
		}
		req, err := http.NewRequest(http.MethodGet, base+path, strings.NewReader(strings.Repeat("x", 4096)))
		if err != nil {
			t.Fatal(err)
		}
		httpResp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(httpResp.Body)
		httpResp.Body.Close()
		wantError(t, apptest.Response{Status: httpResp.StatusCode, Header: httpResp.Header, Body: raw},
			http.StatusRequestEntityTooLarge, "payload_too_large")
	}
}

func TestPublicHealthz(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	resp := e.client.Get("/healthz", "")
	if resp.Status != http.StatusOK || resp.JSON(t)["status"] != "ok" {
		t.Fatalf("%d %s", resp.Status, resp.Body)
	}
}

func TestConcurrentRegistrationsOfOneEmail(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	email := randomEmail()
	const n = 50
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			variant := email
			if i%2 == 1 {
				variant = strings.ToUpper(email) // case variants are the same account
			}
			statuses <- e.client.Post("/auth/register", map[string]string{"email": variant, "password": goodPassword}, "").Status
		}()
	}
	wg.Wait()
	close(statuses)
	counts := map[int]int{}
	for s := range statuses {
		counts[s]++
	}
	if counts[http.StatusCreated] != 1 || counts[http.StatusConflict] != n-1 {
		t.Fatalf("statuses %v, want one 201 and %d 409", counts, n-1)
	}
	if st, _ := e.users.Stats(t.Context()); st.Total != 1 {
		t.Fatalf("%d rows, want 1", st.Total)
	}
}

// A connection that sends nothing, or only part of a request, within HTTP_READ_TIMEOUT gets a
// 408 in the error shape and is closed. A 408 (not a 400) is what lets HTTP clients tell "the
// server closed my idle connection" from an answer to the next request they send on it.
func TestReadTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"HTTP_READ_TIMEOUT": "200ms"})
	addr := strings.TrimPrefix(apptest.Serve(t, e.app.Public()), "http://")
	for name, sent := range map[string]string{
		"nothing":         "",
		"partial headers": "GET /healthz HTTP/1.1\r\nHost: x\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// The deadline only bounds a hung server; the 408 comes after 200 ms.
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(conn, sent); err != nil {
				t.Fatal(err)
			}
			reader := bufio.NewReader(conn)
			httpResp, err := http.ReadResponse(reader, nil)
			if err != nil {
				t.Fatalf("no response: %v", err)
			}
			raw, _ := io.ReadAll(httpResp.Body)
			httpResp.Body.Close()
			resp := apptest.Response{Status: httpResp.StatusCode, Header: httpResp.Header, Body: raw}
			if msg := wantError(t, resp, http.StatusRequestTimeout, "request_timeout"); !strings.HasPrefix(msg, "request timeout: ") {
				t.Fatalf("error = %q", msg)
			}
			if _, err := reader.ReadByte(); err != io.EOF {
				t.Fatalf("connection still open after the 408: %v", err)
			}
		})
	}
}
