package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/example/authapi/app/apptest"
	"github.com/example/authapi/models"
)

// The outbox's claims are fenced: a worker whose lease ran out, and whose message another worker
// claimed, changes nothing; the second claim owns the row.
func TestOutboxLeaseFencing(t *testing.T) {
	t.Parallel()
	db, _ := apptest.MustOpenDB(t)
	ctx := context.Background()
	accounts, outbox := models.NewAccountStore(db, 5*time.Second), models.NewOutbox(db, 5*time.Second)
	apptest.Must(t, accounts.RequestMail(ctx, models.MailReset, "a@example.com", nil), "request mail")

	first, err := outbox.Claim(ctx, 10, time.Millisecond)
	if err != nil || len(first) != 1 {
		t.Fatalf("first claim: %v %v", first, err)
	}
	time.Sleep(10 * time.Millisecond) // the first claim's 1 ms lease runs out
	second, err := outbox.Claim(ctx, 10, time.Hour)
	if err != nil || len(second) != 1 || second[0].Attempts != 2 {
		t.Fatalf("second claim after the lease: %v %v", second, err)
	}
	if none, err := outbox.Claim(ctx, 10, time.Hour); err != nil || len(none) != 0 {
		t.Fatalf("a claimed row was claimed again within its lease: %v %v", none, err)
	}
	if ok, err := outbox.Sent(ctx, &first[0]); err != nil || ok {
		t.Fatalf("the stale claim recorded a delivery: %v %v", ok, err)
	}
	if ok, err := outbox.Sent(ctx, &second[0]); err != nil || !ok {
		t.Fatalf("the live claim could not record its delivery: %v %v", ok, err)
	}
}

// Prune deletes finished messages and expired tokens older than the retention, and nothing else.
func TestOutboxPrune(t *testing.T) {
	t.Parallel()
	db, _ := apptest.MustOpenDB(t)
	ctx := context.Background()
	exec := func(query string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, query, args...); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
	exec(`INSERT INTO users (email, password_hash, status) VALUES ('p@example.com', 'x', 'active')`)
	exec(`INSERT INTO mail_outbox (kind, recipient, status, created_at) VALUES
		('verify', 'old-sent@example.com', 'sent', now() - interval '8 days'),
		('verify', 'old-failed@example.com', 'failed', now() - interval '8 days'),
		('verify', 'old-pending@example.com', 'pending', now() - interval '8 days'),
		('verify', 'new-sent@example.com', 'sent', now())`)
	for _, expires := range []string{"now() - interval '8 days'", "now() - interval '1 day'", "now() + interval '1 hour'"} {
		_, hash, err := models.NewMailToken()
		apptest.Must(t, err, "token")
		exec(`INSERT INTO mail_tokens (token_hash, user_id, kind, expires_at)
			SELECT ?, id, 'reset', `+expires+` FROM users`, hash)
	}
	n, err := models.NewOutbox(db, 5*time.Second).Prune(ctx, 7*24*time.Hour)
	if err != nil || n != 3 {
		t.Fatalf("pruned %d rows (%v), want 3: two old finished messages and one old token", n, err)
	}
	var messages, tokens int
	apptest.Must(t, db.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM mail_outbox), (SELECT count(*) FROM mail_tokens)").Scan(&messages, &tokens), "count")
	if messages != 2 || tokens != 2 {
		t.Fatalf("%d messages and %d tokens left, want 2 and 2 (old pending kept)", messages, tokens)
	}
}
