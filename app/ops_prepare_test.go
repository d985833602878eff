package app_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/example/authapi/app/apptest"
	"github.com/example/authapi/migrations"
)

// TestPrepare: Prepare is the one way to readiness, Run's and the tests'. With migrations
// pending and MIGRATE_ON_START=false it fails naming them and the service stays unready (with
// Postgres and Redis both up); once another replica has migrated, it succeeds and the service
// is ready; called again, it changes nothing.
func TestPrepare(t *testing.T) {
	t.Parallel()
	// A database whose migrations were applied and rolled back: all of them are pending.
	db, dbURL := apptest.MustOpenDB(t)
	if _, err := migrations.Down(t.Context(), db); err != nil {
		t.Fatal(err)
	}
	manual := apptest.NewEnv(t, apptest.Config(t, dbURL, map[string]string{"MIGRATE_ON_START": "false"}), nil)
	admin := apptest.NewAdminClient(t, manual.App.Admin())
	readyz := func(want int, when string) {
		t.Helper()
		if resp := admin.Get("/readyz", ""); resp.Status != want {
			t.Fatalf("/readyz %s: %d %s, want %d", when, resp.Status, resp.Body, want)
		}
	}
	readyz(http.StatusServiceUnavailable, "before Prepare")
	if err := manual.App.Prepare(t.Context()); err == nil || !strings.Contains(err.Error(), "pending") {
		t.Fatalf("Prepare with migrations pending and MIGRATE_ON_START=false: %v, want an error naming them", err)
	}
	readyz(http.StatusServiceUnavailable, "after a failed Prepare")

	apptest.NewEnv(t, apptest.Config(t, dbURL, nil), nil).Prepare(t) // MIGRATE_ON_START=true migrates
	manual.Prepare(t)
	readyz(http.StatusOK, "after Prepare")
	manual.Prepare(t)
	readyz(http.StatusOK, "after a second Prepare")
}
