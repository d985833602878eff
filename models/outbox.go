package models

import (
	"context"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// OutboxMessage is a claimed row of an outbox: mail (Kind, Recipient) or webhook (Kind is the
// event's type, EventID and Payload the delivery).
type OutboxMessage struct {
	bun.BaseModel `bun:"table:mail_outbox"`

	ID        int64     `bun:"id"`
	Kind      MailKind  `bun:"kind"`
	Recipient string    `bun:"recipient"`
	EventID   uuid.UUID `bun:"event_id"`
	// UserID and SessionID are set on an email change's messages: the user and the session
	// that asked (the new address has no account to look up).
	UserID    uuid.UUID `bun:"user_id"`
	SessionID uuid.UUID `bun:"session_id"`
	Payload   string    `bun:"payload"`
	CreatedAt time.Time `bun:"created_at"`
	// Attempts counts this claim. It fences the row: every later write names it, so a worker
	// whose lease ran out (and whose row another worker took) changes nothing.
	Attempts int `bun:"attempts"`
}

// Outbox is the delivery side of an outbox table, used by the delivery worker (app/outbox):
// mail_outbox and webhook_outbox share this one mechanism. Rows are claimed with FOR UPDATE
// SKIP LOCKED and a lease, so any number of replicas share one outbox and each row is worked
// on by one of them at a time; the attempt count fences every later write.
type Outbox struct {
	db      *bun.DB
	timeout time.Duration
	// table is the outbox table, columns what a claim returns of it; mail also prunes its
	// tokens.
	table   string
	columns string
	mail    bool
}

// NewOutbox returns the mail Outbox over db whose calls each get at most timeout.
func NewOutbox(db *bun.DB, timeout time.Duration) *Outbox {
	return &Outbox{db: db, timeout: timeout, table: "mail_outbox", columns: "id, kind, recipient, coalesce(user_id, '00000000-0000-0000-0000-000000000000') AS user_id, coalesce(session_id, '00000000-0000-0000-0000-000000000000') AS session_id, created_at, attempts", mail: true}
}

// NewWebhookOutbox returns the webhook Outbox over db (rows written by EventWriter).
func NewWebhookOutbox(db *bun.DB, timeout time.Duration) *Outbox {
	return &Outbox{db: db, timeout: timeout, table: "webhook_outbox", columns: "id, kind, event_id, payload, created_at, attempts"}
}

// Claim takes up to limit due messages, oldest first, and hides them from other workers for
// lease (their next attempt moves past it). Rows that another worker is claiming at this
// instant are skipped, not waited for.
func (o *Outbox) Claim(ctx context.Context, limit int, lease time.Duration) ([]OutboxMessage, error) {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	var msgs []OutboxMessage
	err := o.db.NewRaw(`
		UPDATE `+o.table+` SET attempts = attempts + 1, next_attempt_at = clock_timestamp() + ?::interval
		 WHERE id IN (
			SELECT id FROM `+o.table+`
			 WHERE status = 'pending' AND next_attempt_at <= clock_timestamp()
			 ORDER BY next_attempt_at
			 LIMIT ?
			   FOR UPDATE SKIP LOCKED)
		RETURNING `+o.columns, interval(lease), limit).Scan(ctx, &msgs)
	if err != nil {
		return nil, dbError(err)
	}
	return msgs, nil
}

// Sent records a delivery. It reports false when the claim had been lost (the lease ran out and
// another worker took the row): the message may then go out twice, which the caller logs.
func (o *Outbox) Sent(ctx context.Context, m *OutboxMessage) (bool, error) {
	return o.update(ctx, m, `status = 'sent', sent_at = clock_timestamp(), last_error = NULL`)
}

// Retry schedules another attempt after wait, keeping errText (which must hold no token).
func (o *Outbox) Retry(ctx context.Context, m *OutboxMessage, wait time.Duration, errText string) (bool, error) {
	return o.update(ctx, m, `next_attempt_at = clock_timestamp() + ?::interval, last_error = ?`, interval(wait), errText)
}

// Fail gives up on a message: it stays in the table, status failed, for an operator to see.
func (o *Outbox) Fail(ctx context.Context, m *OutboxMessage, errText string) (bool, error) {
	return o.update(ctx, m, `status = 'failed', last_error = ?`, errText)
}

// Release hands an unprocessed claim back at once (a worker stopping mid-batch), without
// counting it as an attempt.
func (o *Outbox) Release(ctx context.Context, m *OutboxMessage) error {
	_, err := o.update(ctx, m, `next_attempt_at = clock_timestamp(), attempts = attempts - 1`)
	return err
}

// Drop deletes a message there is nothing to send for (no account, or no longer pending), so
// the outbox keeps no address that belongs to no account.
func (o *Outbox) Drop(ctx context.Context, m *OutboxMessage) error {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	_, err := o.db.NewRaw(`DELETE FROM `+o.table+` WHERE id = ? AND attempts = ?`, m.ID, m.Attempts).Exec(ctx)
	return dbError(err)
}

func (o *Outbox) update(ctx context.Context, m *OutboxMessage, set string, args ...any) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	args = append(args, m.ID, m.Attempts)
	res, err := o.db.NewRaw(`UPDATE `+o.table+` SET `+set+` WHERE id = ? AND attempts = ? AND status = 'pending'`, args...).Exec(ctx)
	if err != nil {
		return false, dbError(err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// Pending counts the messages waiting for delivery, on every replica.
func (o *Outbox) Pending(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	var n int64
	err := o.db.NewRaw(`SELECT count(*) FROM `+o.table+` WHERE status = 'pending'`).Scan(ctx, &n)
	return n, dbError(err)
}

// MintToken creates a token of kind for userID, valid for ttl from now, and returns its text:
// the one copy, which goes into the message and nowhere else.
func (o *Outbox) MintToken(ctx context.Context, userID uuid.UUID, kind MailKind, ttl time.Duration) (token string, hash []byte, err error) {
	token, hash, err = NewMailToken()
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	_, err = o.db.NewRaw(`INSERT INTO mail_tokens (token_hash, user_id, kind, expires_at)
		VALUES (?, ?, ?, clock_timestamp() + ?::interval)`, hash, userID, kind, interval(ttl)).Exec(ctx)
	if err != nil {
		return "", nil, dbError(err)
	}
	return token, hash, nil
}

// MintChangeToken is MintToken for an email change: the token also keeps the new address and
// the session that asked.
func (o *Outbox) MintChangeToken(ctx context.Context, userID uuid.UUID, newEmail string, sessionID uuid.UUID, ttl time.Duration) (token string, hash []byte, err error) {
	token, hash, err = NewMailToken()
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	_, err = o.db.NewRaw(`INSERT INTO mail_tokens (token_hash, user_id, kind, expires_at, new_email, session_id)
		VALUES (?, ?, 'email_change', clock_timestamp() + ?::interval, ?, ?)`, hash, userID, interval(ttl), newEmail, UUIDRef(sessionID)).Exec(ctx)
	if err != nil {
		return "", nil, dbError(err)
	}
	return token, hash, nil
}

// DeleteToken removes a minted token whose message was not delivered, so that no live token
// exists that no one was sent.
func (o *Outbox) DeleteToken(ctx context.Context, hash []byte) error {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	_, err := o.db.NewRaw(`DELETE FROM mail_tokens WHERE token_hash = ?`, hash).Exec(ctx)
	return dbError(err)
}

// Prune deletes what has served its purpose: messages sent or failed before keep, and (mail)
// tokens that expired before keep. It returns how many rows went.
func (o *Outbox) Prune(ctx context.Context, keep time.Duration) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	var n int64
	if !o.mail {
		res, err := o.db.NewRaw(`DELETE FROM `+o.table+` WHERE status <> 'pending' AND created_at < clock_timestamp() - ?::interval`, interval(keep)).Exec(ctx)
		if err != nil {
			return 0, dbError(err)
		}
		n, _ = res.RowsAffected()
		return n, nil
	}
	err := o.db.NewRaw(`
		WITH m AS (DELETE FROM mail_outbox WHERE status <> 'pending' AND created_at < clock_timestamp() - ?::interval RETURNING 1),
		     t AS (DELETE FROM mail_tokens WHERE expires_at < clock_timestamp() - ?::interval RETURNING 1)
		SELECT (SELECT count(*) FROM m) + (SELECT count(*) FROM t)`, interval(keep), interval(keep)).Scan(ctx, &n)
	return n, dbError(err)
}

// interval renders d as a Postgres interval literal.
func interval(d time.Duration) string {
	return strconv.FormatInt(d.Microseconds(), 10) + " microseconds"
}
