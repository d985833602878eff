package apptest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The process-level fault tests run the real binary against a private redis-server that they
// stop, restart and freeze themselves. This file holds those helpers.

// FreePort returns a loopback TCP port that nothing listens on right now, below the kernel's
// ephemeral range and never the same twice in one test process. A port the kernel hands out
// for ":0" comes from the ephemeral range, where the many outgoing connections of parallel
// tests also get theirs: one of them took a Redis Cluster node's port between this call and
// the node's bind, and CI failed ("Address already in use").
func FreePort(tb testing.TB) int {
	tb.Helper()
	low := ephemeralLow()
	freePorts.mu.Lock()
	defer freePorts.mu.Unlock()
	if freePorts.given == nil {
		freePorts.given = map[int]bool{}
	}
	for range 1000 {
		port := 10000 + rand.IntN(low-10000) //nolint:gosec // a port number, not a secret
		if freePorts.given[port] {
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		_ = ln.Close()
		freePorts.given[port] = true
		return port
	}
	tb.Fatal("free port: none found below the ephemeral range")
	return 0
}

// freePorts remembers the ports FreePort gave out in this test process.
var freePorts struct {
	mu    sync.Mutex
	given map[int]bool
}

// ephemeralLow is the start of the kernel's ephemeral port range (32768 by default), above
// which outgoing connections take their local ports.
func ephemeralLow() int {
	raw, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if f := strings.Fields(string(raw)); err == nil && len(f) == 2 {
		if low, err := strconv.Atoi(f[0]); err == nil && low > 11000 {
			return low
		}
	}
	return 32768
}

// Binary builds the service binary (once per test process: every test of a package shares it,
// and the build is the slow part) and returns its path.
func Binary(tb testing.TB) string {
	tb.Helper()
	binaryBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "authapi-bin-")
		if err != nil {
			binaryBuild.err = err
			return
		}
		binaryBuild.dir = dir
		path := filepath.Join(dir, "authapi")
		out, err := exec.Command("go", "build", "-o", path, "github.com/example/authapi").CombinedOutput()
		if err != nil {
			binaryBuild.err = fmt.Errorf("go build: %w\n%s", err, out)
			return
		}
		binaryBuild.path = path
	})
	if binaryBuild.err != nil {
		tb.Fatalf("build the binary: %v", binaryBuild.err)
	}
	return binaryBuild.path
}

// binaryBuild memoises Binary. It is the one package-level variable here, on purpose: a build
// per test would cost seconds of linking each on a loaded CI machine.
var binaryBuild struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// RemoveBinary deletes the binary Binary built, if any; a TestMain calls it after all tests.
func RemoveBinary() {
	if binaryBuild.dir != "" {
		_ = os.RemoveAll(binaryBuild.dir)
	}
}

// RedisServer is a private redis-server on a free loopback port, without persistence, that a
// test can kill, restart on the same port, and freeze (SIGSTOP) to simulate a hung dependency.
type RedisServer struct {
	tb   testing.TB
	Port int
	// Password is the server's requirepass ("" for none).
	Password string
	args     []string
	cmd      *exec.Cmd
	log      LogBuffer
}

// StartRedis starts redis-server on a free port with extra arguments (e.g. "--appendonly",
// "yes") and stops it when the test ends.
func StartRedis(tb testing.TB, extra ...string) *RedisServer {
	tb.Helper()
	return StartRedisOn(tb, FreePort(tb), extra...)
}

// StartRedisOn is StartRedis on a given port (one a binary was told to use before Redis existed).
func StartRedisOn(tb testing.TB, port int, extra ...string) *RedisServer {
	tb.Helper()
	return startRedisOn(tb, port, "", extra...)
}

// startRedisAuth is StartRedis for a server whose extra arguments set requirepass password.
func startRedisAuth(tb testing.TB, password string, extra ...string) *RedisServer {
	tb.Helper()
	return startRedisOn(tb, FreePort(tb), password, extra...)
}

func startRedisOn(tb testing.TB, port int, password string, extra ...string) *RedisServer {
	tb.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		tb.Fatalf("redis-server is not installed (apt-get install redis-server): %v", err)
	}
	r := &RedisServer{tb: tb, Port: port, Password: password}
	r.args = append([]string{"--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", tb.TempDir()}, extra...)
	r.Start()
	tb.Cleanup(r.Kill)
	return r
}

// URL is the redis:// URL of the server.
func (r *RedisServer) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.Port) }

// Start (re)starts the server on its port and waits until it answers PING.
func (r *RedisServer) Start() {
	r.tb.Helper()
	r.cmd = exec.Command("redis-server", r.args...)
	r.cmd.Stdout, r.cmd.Stderr = &r.log, &r.log
	if err := r.cmd.Start(); err != nil {
		r.tb.Fatalf("start redis-server: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if redisPing(r.Port) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.tb.Fatalf("redis-server on port %d did not answer PING within 10s; log:\n%s", r.Port, r.log.String())
}

// Kill stops the server abruptly (SIGKILL, like a crash or an OOM kill) and waits for it.
func (r *RedisServer) Kill() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGCONT) // a stopped process still dies on SIGKILL, but be plain
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// Pause freezes the server (SIGSTOP): connections are accepted by the kernel but nothing answers.
func (r *RedisServer) Pause() { r.signal(syscall.SIGSTOP) }

// Resume thaws a paused server (SIGCONT).
func (r *RedisServer) Resume() { r.signal(syscall.SIGCONT) }

func (r *RedisServer) signal(sig os.Signal) {
	r.tb.Helper()
	if r.cmd == nil {
		r.tb.Fatalf("redis-server is not running")
	}
	if err := r.cmd.Process.Signal(sig); err != nil {
		r.tb.Fatalf("signal redis-server: %v", err)
	}
}

// redisPing sends an inline PING and reports whether +PONG came back within a short time.
func redisPing(port int) bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	buf := make([]byte, 7)
	n, _ := io.ReadFull(c, buf)
	// -NOAUTH: up, and asking for the password it was started with.
	return string(buf[:n]) == "+PONG\r\n" || string(buf[:n]) == "-NOAUTH"
}

// Server is the real binary running `serve` on free loopback ports.
type Server struct {
	tb     testing.TB
	Public string // base URL of the public listener
	Admin  string // base URL of the admin listener
	cmd    *exec.Cmd
	done   chan struct{}
	err    error // the exit error, set before done closes
	Log    LogBuffer
	client *http.Client
}

// StartServer runs the binary with the test configuration of Config (JWT_SECRET, bcrypt cost 4,
// …) plus env, on free ports, and kills it when the test ends. It does not wait for readiness.
// A DATABASE_URL on the TEST_DATABASE_URL server goes through TEST_PGBOUNCER_URL when set.
func StartServer(tb testing.TB, env map[string]string) *Server {
	tb.Helper()
	values := map[string]string{
		"JWT_SECRET":  Secret,
		"BCRYPT_COST": "4",
		"LOG_LEVEL":   "warn",
		"LOG_FORMAT":  "text",
		"DB_TIMEOUT":  "2s",
		// bcrypt runs at BCRYPT_NICE 10, so on a CI machine busy with other work a hash can take
		// far longer than in production; a wait for a slot must not turn into a 503 there.
		// Tests of admission control set their own timeout.
		"BCRYPT_QUEUE_TIMEOUT":    "30s",
		"REDIS_TIMEOUT":           "500ms",
		"LOGIN_MAX_FAILURES_ADDR": "1000000",
		"REGISTER_MAX_PER_ADDR":   "1000000",
		"MAIL_LOG_LINKS":          "true", // as Config: no SMTP server unless a test starts one
		"HOST":                    "127.0.0.1",
		"ADMIN_HOST":              "127.0.0.1",
		"PORT":                    strconv.Itoa(FreePort(tb)),
		"ADMIN_PORT":              strconv.Itoa(FreePort(tb)),
	}
	for k, v := range env {
		values[k] = v
	}
	routeThroughPgBouncer(values)
	// No keep-alive: each request is its own connection, so a refused connection means "not
	// accepted", and any other transport error is a failure of an accepted request.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	s := &Server{tb: tb, done: make(chan struct{}), client: client,
		Public: "http://127.0.0.1:" + values["PORT"], Admin: "http://127.0.0.1:" + values["ADMIN_PORT"]}
	s.cmd = exec.Command(Binary(tb), "serve")
	// Only PATH from the test's environment: TEST_* and a developer's .env stay out.
	s.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "CONFIG_FILE="}
	for k, v := range values {
		s.cmd.Env = append(s.cmd.Env, k+"="+v)
	}
	s.cmd.Stdout, s.cmd.Stderr = &s.Log, &s.Log
	if err := s.cmd.Start(); err != nil {
		tb.Fatalf("start the binary: %v", err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	tb.Cleanup(func() {
		_ = s.cmd.Process.Kill()
		<-s.done
		if tb.Failed() {
			tb.Logf("server %s log:\n%s", s.Public, s.Log.String())
		}
	})
	return s
}

// Pid is the process id of the binary.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Signal sends sig to the process.
func (s *Server) Signal(sig os.Signal) {
	s.tb.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.tb.Fatalf("signal the binary: %v", err)
	}
}

// Wait waits up to timeout for the process to exit and returns its exit code; it fails the
// test if the process is still running.
func (s *Server) Wait(timeout time.Duration) int {
	s.tb.Helper()
	select {
	case <-s.done:
	case <-time.After(timeout):
		s.tb.Fatalf("the binary did not exit within %s", timeout)
	}
	var exit *exec.ExitError
	if errors.As(s.err, &exit) {
		return exit.ExitCode()
	}
	if s.err != nil {
		s.tb.Fatalf("wait for the binary: %v", s.err)
	}
	return 0
}

// WaitReady polls the admin /readyz until it answers 200, failing the test after timeout.
func (s *Server) WaitReady(timeout time.Duration) {
	s.tb.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		code, body, err := s.Get(s.Admin + "/readyz")
		if err == nil && code == http.StatusOK {
			return
		}
		last = fmt.Sprintf("%d %s %v", code, body, err)
		time.Sleep(50 * time.Millisecond)
	}
	s.tb.Fatalf("%s/readyz not 200 within %s (last: %s); log:\n%s", s.Admin, timeout, last, s.Log.String())
}

// Get sends GET url and returns the status and body.
func (s *Server) Get(url string) (int, string, error) {
	return s.Do(http.MethodGet, url, nil, "")
}

// Do sends a request with an optional JSON body and bearer token and returns status and body.
func (s *Server) Do(method, url string, body any, token string) (int, string, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return 0, "", err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, "", err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw), err
}

// RSS returns the resident set size of the process in bytes, from /proc (Linux).
func (s *Server) RSS() (int64, error) { return s.procStatus("VmRSS") }

// PeakRSS returns the highest resident set size the process has had so far (VmHWM), in bytes:
// a spike between two samples of RSS still shows here.
func (s *Server) PeakRSS() (int64, error) { return s.procStatus("VmHWM") }

// procStatus reads one kB field of /proc/PID/status, in bytes.
func (s *Server) procStatus(field string) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc status", field)
}
