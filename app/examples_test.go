package app_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/example/authapi/app/apptest"
	"github.com/example/authapi/models"
)

// TestExamplesWalkthrough runs routes/docs/walkthrough.sh (curl + jq) against the service on a real
// socket, user and admin flows, so the README's examples keep working.
func TestExamplesWalkthrough(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the walkthrough needs %s: %v", tool, err)
		}
	}
	e := newMailEnv(t, nil)
	adminEmail := randomEmail()
	e.register(adminEmail, goodPassword)
	if _, err := e.users.SetRole(context.Background(), adminEmail, models.RoleAdmin); err != nil {
		t.Fatalf("promote: %v", err)
	}
	base := apptest.Serve(t, e.app.Public())

	cmd := exec.Command("bash", "../routes/docs/walkthrough.sh")
	cmd.Env = append(os.Environ(), "BASE_URL="+base, "ADMIN_EMAIL="+adminEmail, "ADMIN_PASSWORD="+goodPassword,
		"MAIL_TOKEN_CMD="+mailTokenCommand(t, e.smtp))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("walkthrough failed: %v\n%s", err, out)
	}
	for _, step := range []string{"== logout", "== verify with the token", "== change the password", "== list, two pages by cursor", "== logout-all", "walkthrough ok"} {
		if !strings.Contains(string(out), step) {
			t.Fatalf("walkthrough skipped %q:\n%s", step, out)
		}
	}
}

// mailTokenCommand writes the walkthrough's MAIL_TOKEN_CMD: a script that asks a loopback
// HTTP endpoint of this test for the token of the N-th message the SMTP server got for EMAIL.
func mailTokenCommand(t *testing.T, server *apptest.SMTPServer) string {
	t.Helper()
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil || n < 1 {
			http.Error(w, "n must be a positive number", http.StatusBadRequest)
			return
		}
		to := r.URL.Query().Get("to")
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) { // a ceiling: a busy machine delivers late
			if msgs := server.To(to); len(msgs) >= n {
				_, _ = io.WriteString(w, msgs[n-1].Token())
				return
			}
		}
		http.Error(w, "no such message", http.StatusNotFound)
	}))
	t.Cleanup(tokens.Close)
	script := filepath.Join(t.TempDir(), "mail-token")
	body := "#!/usr/bin/env bash\nexec curl -sfG " + tokens.URL + " --data-urlencode \"to=$1\" --data-urlencode \"n=$2\"\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return script
}
