package apptest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// GatewayTemplate is the nginx configuration that docker/ ships (a server block for http{}).
func GatewayTemplate() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "docker", "nginx", "templates", "authapi-gateway.conf.template")
}

// StartNginx renders the gateway template with authapi at authapiAddr and the upstream at
// upstreamAddr (host:port each), runs a real nginx on it (`nginx -p DIR -c FILE -g 'daemon
// off;'`: its own pid, logs and temp paths, any user) on a free port, and returns its base URL.
// nginx is stopped when the test ends; its error log is printed if the test failed.
func StartNginx(tb testing.TB, authapiAddr, upstreamAddr string) string {
	tb.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if _, statErr := os.Stat("/usr/sbin/nginx"); statErr != nil {
			tb.Fatalf("nginx is not installed: install the Debian package nginx (or nginx-light), as `just test` does")
		}
		bin = "/usr/sbin/nginx"
	}
	tmpl, err := os.ReadFile(GatewayTemplate())
	if err != nil {
		tb.Fatal(err)
	}
	port := FreePort(tb)
	listen := "127.0.0.1:" + strconv.Itoa(port)
	server := strings.NewReplacer("${GATEWAY_LISTEN}", listen, "${AUTHAPI_ADDR}", authapiAddr, "${UPSTREAM_ADDR}", upstreamAddr).Replace(string(tmpl))
	if strings.Contains(server, "${") {
		tb.Fatalf("a placeholder of %s is left unrendered", GatewayTemplate())
	}
	dir := tb.TempDir()
	// As root, nginx would run its worker as nobody, which cannot write the temp paths in the
	// test's own directory (large bodies are buffered there): keep the worker as root then.
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;"
	}
	main := fmt.Sprintf(`worker_processes 1;
%[2]s
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[1]s/gateway.conf;
}
`, dir, user)
	for name, content := range map[string]string{"gateway.conf": server, "nginx.conf": main} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	if out, err := exec.Command(bin, "-t", "-p", dir, "-c", filepath.Join(dir, "nginx.conf")).CombinedOutput(); err != nil {
		tb.Fatalf("nginx -t: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-g", "daemon off;")
	var out LogBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start nginx: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	tb.Cleanup(func() {
		// TERM: the master stops its worker, then exits (a killed master would leave it behind).
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if tb.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			tb.Logf("nginx output:\n%s\nerror.log:\n%s", out.String(), log)
		}
	})
	for start := time.Now(); time.Since(start) < 10*time.Second; time.Sleep(20 * time.Millisecond) {
		select {
		case <-done:
			tb.Fatalf("nginx exited: %s", out.String())
		default:
		}
		if c, err := net.Dial("tcp", listen); err == nil {
			_ = c.Close()
			return "http://" + listen
		}
	}
	tb.Fatalf("nginx did not listen on %s within 10s: %s", listen, out.String())
	return ""
}
