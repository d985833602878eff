package deploycheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/example/authapi/config"
)

// TestDevSecret: `just run` and `just dev` work with no JWT_SECRET set, on a secret made once
// into the git-ignored .data and reused, which the service accepts; the repository publishes none.
func TestDevSecret(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".data")
	script := filepath.Join(dockerDir(t), "dev-secret.sh")
	run := func() string {
		t.Helper()
		out, err := exec.Command(script, dir).Output()
		if err != nil {
			t.Fatalf("dev-secret.sh: %v", err)
		}
		return string(out)
	}
	first, second := run(), run()
	if first != second {
		t.Fatal("a second run made another secret: tokens would die at every restart")
	}
	if _, err := config.FromValues(map[string]string{"JWT_SECRET": first}); err != nil {
		t.Fatalf("the service refuses the generated secret: %v", err)
	}
	info, err := os.Stat(filepath.Join(dir, "jwt_secret"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("secret file mode %v (%v), want 0600", info.Mode(), err)
	}
	if other := filepath.Join(t.TempDir(), ".data"); first == func() string {
		out, _ := exec.Command(script, other).Output()
		return string(out)
	}() {
		t.Fatal("two checkouts got the same secret")
	}

	root := filepath.Dir(dockerDir(t))
	justfile, err := os.ReadFile(filepath.Join(root, "justfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, recipe := range []string{"run", "dev", "migrate", "admin"} {
		re := regexp.MustCompile(`(?ms)^` + recipe + `\b[^\n]*:.*?\n\n`)
		body := re.Find(justfile)
		if !regexp.MustCompile(`JWT_SECRET="\$\{JWT_SECRET:-\$\(docker/dev-secret\.sh\)\}"`).Match(body) {
			t.Errorf("justfile recipe %s does not fall back to docker/dev-secret.sh", recipe)
		}
	}
	ignore, err := os.ReadFile(filepath.Join(root, ".gitignore"))
	if err != nil || !regexp.MustCompile(`(?m)^/\.data$`).Match(ignore) {
		t.Error(".data is not git-ignored")
	}
}
