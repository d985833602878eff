package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/example/authapi/app/apptest"
	"github.com/example/authapi/models"
)

// Retention drops whole months before the cutoff and deletes, in batches, the older rows of the
// month it falls in, keeping every newer event, while inserts go on unhindered; a second replica
// finds the maintenance lock taken and does nothing.
func TestAuditRetention(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	now := time.Now().UTC()
	const retention = 90 * 24 * time.Hour
	cutoff := now.Add(-retention)

	// The service made the partitions of this month and the next ones at start.
	var ahead int
	apptest.Must(t, e.db.NewRaw("SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass").Scan(ctx, &ahead), "partitions")
	if ahead < models.PartitionsAhead {
		t.Fatalf("%d partitions at start, want at least %d", ahead, models.PartitionsAhead)
	}
	// Months back to five ago, as a service running since then would have made them.
	apptest.Must(t, e.db.NewRaw("SELECT events_ensure_partitions(?, 6)", now.AddDate(0, -5, 0)).Scan(ctx, new(int)), "old partitions")

	// 12,000 events older than the cutoff in the month it falls in (more than one batch), 300 in
	// each of the older months, and 500 newer than the cutoff in its month.
	seed := func(from, to time.Time, n int) {
		_, err := e.db.ExecContext(ctx, `INSERT INTO events (id, type, at, details)
			SELECT gen_random_uuid(), 'login.failed', ?::timestamptz + (?::timestamptz - ?::timestamptz) * (i::float8 / ?), '{"reason":"unknown_email"}'
			FROM generate_series(0, ? - 1) i`, from, to, from, n, n)
		apptest.Must(t, err, "seed events")
	}
	monthOfCutoff := time.Date(cutoff.Year(), cutoff.Month(), 1, 0, 0, 0, 0, time.UTC)
	if cutoff.Sub(monthOfCutoff) < time.Hour {
		t.Skip("the cutoff is at the very start of a month; run again in an hour")
	}
	seed(monthOfCutoff, cutoff.Add(-time.Minute), 12000)
	for m := 1; m <= 2; m++ {
		start := monthOfCutoff.AddDate(0, -m, 0)
		seed(start, start.AddDate(0, 1, 0).Add(-time.Hour), 300)
	}
	seed(cutoff.Add(time.Minute), minTime(monthOfCutoff.AddDate(0, 1, 0).Add(-time.Minute), now), 500)
	count := func(where string, args ...any) int {
		var n int
		apptest.Must(t, e.db.NewRaw("SELECT count(*) FROM events WHERE "+where, args...).Scan(ctx, &n), "count")
		return n
	}
	keptBefore := count("at >= ?", cutoff)
	// e.db is the service's own route to Postgres: through PgBouncer in transaction pooling
	// when TEST_PGBOUNCER_URL is set (as under just test), where the maintenance lock must work.
	store := models.NewEventStore(e.db, 5*time.Second)

	// Another replica holds the lock: nothing happens.
	held, err := e.db.BeginTx(ctx, nil)
	apptest.Must(t, err, "begin")
	var got bool
	apptest.Must(t, held.QueryRowContext(ctx, "SELECT pg_try_advisory_xact_lock(7240911028417)").Scan(&got), "lock")
	res, err := store.Maintain(ctx, retention, now)
	apptest.Must(t, err, "maintain while locked")
	if !got || !res.Skipped || count("at < ?", cutoff) == 0 {
		t.Fatalf("maintenance ran while another replica held the lock: %+v", res)
	}
	_ = held.Rollback()

	// Inserts through the writer all the while, as logins would.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var inserted, failed atomic.Int64
	var slowest atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				uid := uuid.New()
				if err := e.sessions.Events().Write(ctx, models.Event{Type: models.EventLoginSucceeded, UserID: &uid}); err != nil {
					failed.Add(1)
					t.Errorf("insert during retention: %v", err)
					return
				}
				if d := int64(time.Since(start)); d > slowest.Load() {
					slowest.Store(d)
				}
				inserted.Add(1)
			}
		}()
	}
	start := time.Now()
	res, err = store.Maintain(ctx, retention, now)
	took := time.Since(start)
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
	apptest.Must(t, err, "maintain")
	t.Logf("retention: %+v in %s; %d inserts meanwhile, slowest %s", res, took, inserted.Load(), time.Duration(slowest.Load()))
	if res.Dropped < 2 || res.Deleted != 12000 {
		t.Fatalf("maintenance %+v, want at least 2 months dropped and 12000 rows deleted", res)
	}
	if n := count("at < ?", cutoff); n != 0 {
		t.Fatalf("%d events older than the retention remain", n)
	}
	if n := count("at >= ? AND type = 'login.failed'", cutoff); n != keptBefore {
		t.Fatalf("%d newer events kept, want %d", n, keptBefore)
	}
	if failed.Load() != 0 || inserted.Load() == 0 || count("type = 'login.succeeded'") != int(inserted.Load()) {
		t.Fatalf("inserts during retention: %d ok, %d failed, %d stored", inserted.Load(), failed.Load(), count("type = 'login.succeeded'"))
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// The CLI's commands write their events, with no client: users import one users.imported with
// the counts (and no hash), promote/suspend/activate role.changed, user.suspended and
// user.activated. Uses t.Setenv (importEnv), so not parallel.
func TestAuditCLIEvents(t *testing.T) {
	e, _ := importEnv(t)
	hash := bcryptAs(t, "$2b$", goodPassword, 4)
	id := uuid.New().String()
	email := randomEmail()
	line := `{"id":"` + id + `","email":"` + email + `","password_hash":"` + hash + `","created_at":"2025-01-02T03:04:05Z","status":"active"}` + "\n"
	if code, out := importCLI(t, line, "--file", "-"); code != 0 {
		t.Fatalf("import: %d %s", code, out)
	}
	for _, args := range [][]string{
		{"users", "promote", email, "--role", "admin"},
		{"users", "suspend", email, "--reason", "abuse"},
		{"users", "activate", email},
	} {
		if code, out := runCLI(t, args...); code != 0 {
			t.Fatalf("%v: %d %s", args, code, out)
		}
	}
	events := storedEvents(t, e)
	imported := findEvent(t, events, "users.imported", "", map[string]any{"imported": float64(1), "skipped": float64(0), "failed": float64(0)})
	if imported["user_id"] != nil || imported["ip"] != "" || imported["user_agent"] != "" || imported["actor_id"] != nil {
		t.Fatalf("users.imported %v", imported)
	}
	findEvent(t, events, "role.changed", id, map[string]any{"from": "user", "to": "admin"})
	findEvent(t, events, "user.suspended", id, map[string]any{"reason": "abuse"})
	findEvent(t, events, "user.activated", id, nil)
	for _, ev := range events {
		if ev["ip"] != "" || ev["user_agent"] != "" {
			t.Fatalf("a CLI event has a client: %v", ev)
		}
	}
	all, _ := json.Marshal(events)
	scanSecrets(t, "CLI events", string(all), []string{hash, hash[7:]})
}

// An event the API answered for is never lost: while events cannot be written, a wrong
// password is not answered 401, a right one opens no session, and a logout is not answered 204;
// once they can, the same requests are answered and recorded.
func TestAuditNoAnswerWithoutItsEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	email, token := e.newUser()
	ctx := context.Background()
	_, err := e.db.ExecContext(ctx, `CREATE FUNCTION audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'audit trail unavailable'; END $$;
		CREATE TRIGGER audit_refuse BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION audit_refuse()`)
	apptest.Must(t, err, "refusing trigger")
	var sessions int
	countSessions := func() int {
		apptest.Must(t, e.db.NewRaw("SELECT count(*) FROM sessions WHERE revoked_at IS NULL").Scan(ctx, &sessions), "sessions")
		return sessions
	}
	before := countSessions()
	for _, tc := range []struct {
		name string
		resp func() int
	}{
		{"WrongPassword", func() int {
			return e.client.Post("/auth/login", map[string]string{"email": email, "password": "wrong-password-1"}, "").Status
		}},
		{"RightPassword", func() int {
			return e.client.Post("/auth/login", map[string]string{"email": email, "password": goodPassword}, "").Status
		}},
		{"Logout", func() int { return e.client.Post("/auth/logout", nil, token).Status }},
	} {
		if status := tc.resp(); status < 500 {
			t.Fatalf("%s answered %d while its event could not be written", tc.name, status)
		}
	}
	if n := countSessions(); n != before {
		t.Fatalf("%d live sessions, want %d: a login without its event opened one", n, before)
	}
	_, err = e.db.ExecContext(ctx, "DROP TRIGGER audit_refuse ON events")
	apptest.Must(t, err, "drop trigger")
	if status := e.client.Post("/auth/logout", nil, token).Status; status != http.StatusNoContent {
		t.Fatalf("logout after: %d", status)
	}
	findEvent(t, storedEvents(t, e), "logout", decodeClaims(t, token)["sub"].(string), nil)
}
