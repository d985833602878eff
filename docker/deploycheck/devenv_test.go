package deploycheck

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The private Postgres and Redis of `just run` (docker/devenv.sh, docker/services.sh) start
// even when another process takes their port between the free-port check and the bind, as a
// second clone does when both start at the same moment (initdb takes seconds in between).

// TestDevenvPortLostBeforeBind holds the preferred ports bound but not listening, so the
// free-port check (a connect) finds them free and only the servers' own bind fails: devenv
// still succeeds, on other ports, recorded and printed.
func TestDevenvPortLostBeforeBind(t *testing.T) {
	pg, redis := boundPort(t), boundPort(t)
	dir := devenvDir(t)
	urls, err := devenv(t, dir, pg, redis)
	if err != nil {
		t.Fatalf("devenv with its ports lost before the bind: %v", err)
	}
	gotPG, gotRedis := urls.port(t, "DATABASE_URL"), urls.port(t, "REDIS_URL")
	if gotPG == pg || gotRedis == redis {
		t.Fatalf("devenv printed the lost ports: %s", urls)
	}
	answers(t, gotPG, gotRedis)
	for name, want := range map[string]int{"pg.port": gotPG, "redis.port": gotRedis} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || strings.TrimSpace(string(b)) != fmt.Sprint(want) {
			t.Errorf("%s = %q (%v), want %d", name, b, err, want)
		}
	}
	log, _ := os.ReadFile(filepath.Join(dir, "pg.log"))
	if !bytes.Contains(log, []byte("Address already in use")) {
		t.Errorf("Postgres never met the lost port (the test did not test the retry):\n%s", log)
	}

	// With exact ports (SERVICES_RETRY_PORTS unset, as `just test` starts them), the failure is
	// one line naming the cause from the server's log.
	other := devenvDir(t)
	cmd := exec.Command(filepath.Join(dockerDir(t), "services.sh"), "start", other, fmt.Sprint(pg), fmt.Sprint(freePort(t)))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	t.Cleanup(func() { stopServices(t, other) })
	if err := cmd.Run(); err == nil {
		t.Fatal("services.sh started Postgres on a port another socket holds")
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	last := lines[len(lines)-1]
	if !strings.Contains(last, fmt.Sprintf("postgres could not listen on 127.0.0.1:%d", pg)) || !strings.Contains(last, "Address already in use") {
		t.Fatalf("the failure's last line does not name the cause: %q", stderr.String())
	}
}

// TestDevenvTwoClonesAtOnce starts two devenvs in two directories at the same moment, both
// preferring the same ports, as two fresh clones running `just run` together do: both come up,
// on different ports.
func TestDevenvTwoClonesAtOnce(t *testing.T) {
	pg, redis := freePort(t), freePort(t)
	dirs := []string{devenvDir(t), devenvDir(t)}
	results := make([]devenvURLs, len(dirs))
	errs := make([]error, len(dirs))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, dir := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i], errs[i] = devenv(t, dir, pg, redis)
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("clone %d: %v", i, err)
		}
	}
	a, b := results[0], results[1]
	if a.port(t, "DATABASE_URL") == b.port(t, "DATABASE_URL") || a.port(t, "REDIS_URL") == b.port(t, "REDIS_URL") {
		t.Fatalf("the two clones share a port:\n%s\n%s", a, b)
	}
	for _, r := range results {
		answers(t, r.port(t, "DATABASE_URL"), r.port(t, "REDIS_URL"))
	}
}

// devenvURLs is what devenv.sh prints for the recipe to eval.
type devenvURLs string

var urlPort = regexp.MustCompile(`127\.0\.0\.1:(\d+)`)

// port returns the port in the export line of name.
func (u devenvURLs) port(t *testing.T, name string) int {
	t.Helper()
	for _, line := range strings.Split(string(u), "\n") {
		if strings.HasPrefix(line, "export "+name+"=") {
			var p int
			if m := urlPort.FindStringSubmatch(line); m != nil {
				_, _ = fmt.Sscan(m[1], &p)
				return p
			}
		}
	}
	t.Fatalf("no %s in devenv's output:\n%s", name, u)
	return 0
}

// devenv runs docker/devenv.sh DIR with no URLs set and the preferred ports given; its services
// are stopped when the test ends.
func devenv(t *testing.T, dir string, pg, redis int) (devenvURLs, error) {
	t.Cleanup(func() { stopServices(t, dir) })
	cmd := exec.Command(filepath.Join(dockerDir(t), "devenv.sh"), dir)
	cmd.Env = append(withoutURLs(os.Environ()), fmt.Sprintf("DEVENV_PG_PORT=%d", pg), fmt.Sprintf("DEVENV_REDIS_PORT=%d", redis))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%w: %s", err, stderr.String())
	}
	return devenvURLs(stdout.String()), nil
}

func withoutURLs(env []string) []string {
	var out []string
	for _, kv := range env {
		switch strings.SplitN(kv, "=", 2)[0] {
		case "DATABASE_URL", "REDIS_URL", "REDIS_CLUSTER_ADDRS", "REDIS_SENTINEL_ADDRS", "SERVICES_RETRY_PORTS":
			continue
		}
		out = append(out, kv)
	}
	return out
}

// devenvDir returns a fresh data directory. Under a private temporary directory, services.sh
// keeps the data in /var/tmp (the postgres user cannot enter a 0700 directory); that copy is
// removed at the end too.
func devenvDir(t *testing.T) string {
	return filepath.Join(t.TempDir(), ".data")
}

// stopServices stops what services.sh started in dir and removes the data kept elsewhere.
func stopServices(t *testing.T, dir string) {
	out, err := exec.Command(filepath.Join(dockerDir(t), "services.sh"), "stop", dir).CombinedOutput()
	if err != nil {
		t.Errorf("services.sh stop %s: %v %s", dir, err, out)
	}
	if target, err := os.Readlink(dir); err == nil && strings.HasPrefix(target, "/var/tmp/authapi-data-") {
		_ = os.RemoveAll(target)
	}
}

// boundPort returns a port held by a socket that is bound but not listening until the test
// ends: a connect finds it free, a bind finds it taken.
func boundPort(t *testing.T) int {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	for range 100 {
		p := freePort(t)
		if syscall.Bind(fd, &syscall.SockaddrInet4{Port: p, Addr: [4]byte{127, 0, 0, 1}}) == nil {
			return p
		}
	}
	t.Fatal("no port to bind")
	return 0
}

// freePort asks docker/freeport.sh, as the recipes do.
func freePort(t *testing.T) int {
	t.Helper()
	out, err := exec.Command(filepath.Join(dockerDir(t), "freeport.sh")).Output()
	var p int
	if _, scanErr := fmt.Sscan(string(out), &p); err != nil || scanErr != nil {
		t.Fatalf("freeport.sh: %v %q", err, out)
	}
	return p
}

// answers asserts that Postgres and Redis accept connections on their ports.
func answers(t *testing.T, pg, redis int) {
	t.Helper()
	for _, p := range []int{pg, redis} {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p), 10*time.Second)
		if err != nil {
			t.Fatalf("nothing answers on %d: %v", p, err)
		}
		_ = c.Close()
	}
}
