package app_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/example/authapi/app"
	"github.com/example/authapi/app/apptest"
	"github.com/example/authapi/config"
	"github.com/example/authapi/models"
)

// BenchmarkEventsKeyset reads one page of 20 events at the top of the trail and deep in it
// (the page before the oldest), everyone's and one user's: keyset pages cost the same at any
// depth. AUDIT_BENCH_ROWS sets the table's size (default 1,000,000, over three months of
// partitions; 10,000,000 is the contract's size and takes minutes to seed):
//
//	AUDIT_BENCH_ROWS=1000000 go test -run '^$' -bench BenchmarkEventsKeyset -benchtime 2000x ./app/
func BenchmarkEventsKeyset(b *testing.B) {
	rows := 1_000_000
	if s := os.Getenv("AUDIT_BENCH_ROWS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		rows = n
	}
	db, dbURL := apptest.MustOpenDB(b)
	// Seeding and ANALYZE of millions of rows outlast the pool's 10 s statement deadline.
	seed := app.OpenDB(config.DB{URL: dbURL, MaxConnections: 1, QueryTimeout: 30 * time.Minute})
	b.Cleanup(func() { seed.Close() })
	ctx := context.Background()
	now := time.Now().UTC()
	from := now.AddDate(0, -2, 0)
	apptest.Must(b, seed.NewRaw("SELECT events_ensure_partitions(?, 3)", from).Scan(ctx, new(int)), "partitions")
	// One user in every 1,000 events is the user read below; the rest belong to 5,000 others.
	user := uuid.New()
	const chunk = 1_000_000
	for lo := 0; lo < rows; lo += chunk {
		_, err := seed.ExecContext(ctx, `INSERT INTO events (id, type, at, user_id, ip, details)
			SELECT gen_random_uuid(),
			       CASE WHEN i % 3 = 0 THEN 'login.failed' ELSE 'login.succeeded' END,
			       ?::timestamptz + (?::timestamptz - ?::timestamptz) * (i::float8 / ?),
			       CASE WHEN i % 1000 = 0 THEN ?::uuid ELSE md5((i % 5000)::text)::uuid END,
			       '203.0.113.7', '{}'
			FROM generate_series(?, ?) i`, from, now, from, rows, user, lo, min(lo+chunk, rows)-1)
		apptest.Must(b, err, "seed")
	}
	_, err := seed.ExecContext(ctx, "ANALYZE events")
	apptest.Must(b, err, "analyze")
	store := models.NewEventStore(db, 10*time.Second)
	// The cursor of the page before the oldest events: the deepest page a client can ask for.
	deep := func(f models.EventFilter) *models.Cursor {
		var c models.Cursor
		q := "SELECT at, id FROM events"
		args := []any{}
		if f.UserID != uuid.Nil {
			q += " WHERE user_id = ?"
			args = append(args, f.UserID)
		}
		q += " ORDER BY at, id OFFSET 20 LIMIT 1"
		apptest.Must(b, db.QueryRowContext(ctx, q, args...).Scan(&c.CreatedAt, &c.ID), "deep cursor")
		return &c
	}
	for _, tc := range []struct {
		name string
		f    models.EventFilter
	}{
		{"all", models.EventFilter{}},
		{"type", models.EventFilter{Type: models.EventLoginFailed}},
		{"user", models.EventFilter{UserID: user}},
	} {
		for _, depth := range []string{"top", "deep"} {
			var cursor *models.Cursor
			if depth == "deep" {
				cursor = deep(tc.f)
			}
			b.Run(tc.name+"/"+depth, func(b *testing.B) {
				for b.Loop() {
					page, err := store.List(ctx, tc.f, cursor, 20)
					if err != nil || len(page.Events) == 0 {
						b.Fatalf("page: %v, %d events", err, len(page.Events))
					}
				}
			})
		}
	}
}
