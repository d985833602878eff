package app_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/example/authapi/app/apptest"
)

// gzipped returns data compressed with gzip, layers times over.
func gzipped(t *testing.T, data []byte, layers int) []byte {
	t.Helper()
	for range layers {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		data = buf.Bytes()
	}
	return data
}

// rawExchange sends raw bytes on a new connection to addr (host:port) and reads one response.
// It is for what an HTTP client will not send: repeated or empty headers, oversized ones.
func rawExchange(t *testing.T, addr, raw string) apptest.Response {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatalf("write: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no response: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return apptest.Response{Status: resp.StatusCode, Header: resp.Header, Body: body}
}

// A body with any Content-Encoding but identity is refused with 415 before it is read, even a
// well-formed gzip of a valid registration: nothing is inflated, nothing is created.
func TestContentEncodingRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	valid := func() []byte {
		return []byte(`{"email":"` + randomEmail() + `","password":"` + goodPassword + `"}`)
	}
	for _, tc := range []struct{ encoding, want string }{
		{"gzip", "content-encoding gzip"},
		{"GZIP", "content-encoding gzip"},
		{" Gzip ", "content-encoding gzip"},
		{"gzip, gzip", "content-encoding gzip"},
		{"identity, gzip", "content-encoding gzip"},
		{"x-gzip", "content-encoding x-gzip"},
		{"deflate", "content-encoding deflate"},
		{"br", "content-encoding br"},
		{"zstd", "content-encoding zstd"},
		{"compress", "content-encoding compress"},
		{"x-made-up<script>", "content-encoding other than identity"},
	} {
		t.Run("Err "+tc.encoding, func(t *testing.T) {
			layers := max(1, strings.Count(tc.encoding, "gzip"))
			for _, path := range []string{"/auth/register", "/auth/login", "/users/batch", "/auth/logout", "/healthz"} {
				method := http.MethodPost
				if path == "/healthz" {
					method = http.MethodGet
				}
				resp := e.client.Do(apptest.Request{Method: method, Path: path, Body: gzipped(t, valid(), layers),
					Header: map[string]string{"Content-Encoding": tc.encoding}, SkipRequestValidation: true})
				if msg := wantError(t, resp, http.StatusUnsupportedMediaType, "unsupported_media_type"); msg != "unsupported media type: "+tc.want {
					t.Fatalf("%s: error = %q", path, msg)
				}
			}
		})
	}
	if st, _ := e.users.Stats(t.Context()); st.Total != 0 {
		t.Fatalf("a compressed body created %d users", st.Total)
	}
	t.Run("OKIdentity", func(t *testing.T) {
		resp := e.client.Do(apptest.Request{Method: http.MethodPost, Path: "/auth/register", Body: valid(),
			Header: map[string]string{"Content-Encoding": "Identity"}})
		if resp.Status != http.StatusCreated {
			t.Fatalf("identity: %d %s", resp.Status, resp.Body)
		}
	})

	// Headers no HTTP client sends this way: several Content-Encoding headers (Fiber reads the
	// last one), an empty one.
	addr := strings.TrimPrefix(apptest.Serve(t, e.app.Public()), "http://")
	send := func(headers string, body []byte) apptest.Response {
		return rawExchange(t, addr, "POST /auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+headers+
			"Content-Length: "+strconv.Itoa(len(body))+"\r\nConnection: close\r\n\r\n"+string(body))
	}
	t.Run("ErrSecondHeader", func(t *testing.T) {
		resp := send("Content-Encoding: identity\r\nContent-Encoding: gzip\r\n", gzipped(t, valid(), 1))
		wantError(t, resp, http.StatusUnsupportedMediaType, "unsupported_media_type")
	})
	t.Run("ErrLowerCaseName", func(t *testing.T) {
		resp := send("content-encoding: GZIP\r\n", gzipped(t, valid(), 1))
		wantError(t, resp, http.StatusUnsupportedMediaType, "unsupported_media_type")
	})
	t.Run("OKEmptyHeader", func(t *testing.T) {
		if resp := send("Content-Encoding: \r\n", valid()); resp.Status != http.StatusCreated {
			t.Fatalf("empty Content-Encoding: %d %s", resp.Status, resp.Body)
		}
	})
}

// Headers up to the 8 KiB limit are read: a 6 KB bearer token that is not valid is the
// contract's 401. Past the limit, a 12 KB one is a 431 in the error shape, not a 400.
func TestHeaderLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	addr := strings.TrimPrefix(apptest.Serve(t, e.app.Public()), "http://")
	get := func(tokenBytes int) apptest.Response {
		token := strings.Repeat("a", tokenBytes/3) + "." + strings.Repeat("b", tokenBytes/3) + "." + strings.Repeat("c", tokenBytes/3)
		return rawExchange(t, addr, "GET /auth/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+token+"\r\nConnection: close\r\n\r\n")
	}
	t.Run("ErrUnauthorized6KB", func(t *testing.T) {
		resp := get(6000)
		if msg := wantError(t, resp, http.StatusUnauthorized, "unauthorized"); !strings.HasPrefix(msg, "unauthorized: ") {
			t.Fatalf("error = %q", msg)
		}
		if resp.Header.Get("WWW-Authenticate") != "Bearer" {
			t.Fatalf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
		}
	})
	t.Run("ErrTooLarge12KB", func(t *testing.T) {
		resp := get(12000)
		if msg := wantError(t, resp, http.StatusRequestHeaderFieldsTooLarge, "request_header_fields_too_large"); !strings.HasPrefix(msg, "request header fields too large: ") {
			t.Fatalf("error = %q", msg)
		}
		wantServiceRequestID(t, resp) // made by the error handler, not the middleware: same form
	})
}

// A gzip bomb (1 GiB of zeros, gzipped twice: 4 KB on the wire) against the real binary: 415,
// and the process's peak RSS stays far below what inflating it would take.
func TestCompressedBodyBombProcess(t *testing.T) {
	t.Parallel()
	bomb, err := os.ReadFile("testdata/gzip-gzip-1GiB-zeros")
	if err != nil {
		t.Fatal(err)
	}
	if n := inflatedSize(t, bomb, 2); n != 1<<30 {
		t.Fatalf("the bomb inflates to %d bytes, want 1 GiB", n)
	}
	p := startProc(t, map[string]string{"DATABASE_URL": apptest.MustCreateDatabase(t), "REDIS_URL": apptest.RedisURL(t)})
	p.WaitReady(30 * time.Second)
	client := &http.Client{Timeout: 2 * time.Minute}
	var responses []apptest.Response
	for _, path := range []string{"/auth/register", "/auth/login"} {
		for _, encoding := range []string{"gzip, gzip", "gzip,GZIP"} {
			req, _ := http.NewRequest(http.MethodPost, p.Public+path, bytes.NewReader(bomb))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Content-Encoding", encoding)
			httpResp, err := client.Do(req)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			body, _ := io.ReadAll(httpResp.Body)
			httpResp.Body.Close()
			responses = append(responses, apptest.Response{Status: httpResp.StatusCode, Header: httpResp.Header, Body: body})
		}
	}
	peak, err := p.PeakRSS()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("peak RSS across 4 bombs of %d bytes (1 GiB inflated): %d MiB", len(bomb), peak>>20)
	if peak > 128<<20 {
		t.Fatalf("peak RSS %d MiB: the body was inflated", peak>>20)
	}
	for _, resp := range responses {
		if msg := wantError(t, resp, http.StatusUnsupportedMediaType, "unsupported_media_type"); msg != "unsupported media type: content-encoding gzip" {
			t.Fatalf("error = %q", msg)
		}
	}
}

// inflatedSize gunzips data layers times, streaming, and returns the final size.
func inflatedSize(t *testing.T, data []byte, layers int) int64 {
	t.Helper()
	var r io.Reader = bytes.NewReader(data)
	for range layers {
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	n, err := io.Copy(io.Discard, r)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
