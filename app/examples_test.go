package app_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

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
	e := newEnv(t, nil)
	adminEmail := randomEmail()
	e.register(adminEmail, goodPassword)
	if _, err := e.app.Users.SetRole(context.Background(), adminEmail, models.RoleAdmin); err != nil {
		t.Fatalf("promote: %v", err)
	}
	base := apptest.Serve(t, e.app.Public())

	cmd := exec.Command("bash", "../routes/docs/walkthrough.sh")
	cmd.Env = append(os.Environ(), "BASE_URL="+base, "ADMIN_EMAIL="+adminEmail, "ADMIN_PASSWORD="+goodPassword)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("walkthrough failed: %v\n%s", err, out)
	}
	for _, step := range []string{"== logout", "== list, two pages by cursor", "== logout-all", "walkthrough ok"} {
		if !strings.Contains(string(out), step) {
			t.Fatalf("walkthrough skipped %q:\n%s", step, out)
		}
	}
}
