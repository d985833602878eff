package models

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// EventFilter selects events: of one user, of one type, at or after Since, before Until; a
// zero field selects everything.
type EventFilter struct {
	UserID uuid.UUID
	Type   EventType
	Since  time.Time
	Until  time.Time
}

// EventPage is one page of events, newest first, and the cursor of the next (nil: the last).
type EventPage struct {
	Events []Event
	Next   *Cursor
}

// EventStore reads the audit trail and keeps it within its retention.
type EventStore struct {
	db      *bun.DB
	timeout time.Duration
}

// NewEventStore returns a store over db whose calls each get at most timeout.
func NewEventStore(db *bun.DB, timeout time.Duration) *EventStore {
	return &EventStore{db: db, timeout: timeout}
}

type eventRow struct {
	ID        uuid.UUID  `bun:"id"`
	Type      EventType  `bun:"type"`
	At        time.Time  `bun:"at"`
	UserID    *uuid.UUID `bun:"user_id"`
	ActorID   *uuid.UUID `bun:"actor_id"`
	SessionID *uuid.UUID `bun:"session_id"`
	IP        string     `bun:"ip"`
	UserAgent string     `bun:"user_agent"`
	Details   string     `bun:"details"`
}

// List returns up to limit events matching f, newest first ((at, id) descending), after cursor
// when it is not nil. Every filter has an index that walks in this order from the cursor, so a
// page costs the same at any depth; months before Since or after the cursor are pruned.
func (s *EventStore) List(ctx context.Context, f EventFilter, cursor *Cursor, limit int) (EventPage, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var where []string
	var args []any
	if f.UserID != uuid.Nil {
		where, args = append(where, "user_id = ?"), append(args, f.UserID)
	}
	if f.Type != "" {
		where, args = append(where, "type = ?"), append(args, f.Type)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "at >= ?"), append(args, f.Since.UTC())
	}
	if !f.Until.IsZero() {
		where, args = append(where, "at < ?"), append(args, f.Until.UTC())
	}
	if cursor != nil {
		where, args = append(where, "(at, id) < (?, ?)"), append(args, cursor.CreatedAt.UTC(), cursor.ID)
	}
	q := "SELECT id, type, at, user_id, actor_id, session_id, ip, user_agent, details::text AS details FROM events"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY at DESC, id DESC LIMIT ?"
	args = append(args, limit+1)
	var rows []eventRow
	if err := s.db.NewRaw(q, args...).Scan(ctx, &rows); err != nil {
		return EventPage{}, dbError(err)
	}
	page := EventPage{Events: make([]Event, 0, min(len(rows), limit))}
	for i := range rows {
		if i == limit {
			last := page.Events[limit-1]
			page.Next = &Cursor{CreatedAt: last.At, ID: last.ID}
			break
		}
		r := &rows[i]
		ev := Event{ID: r.ID, Type: r.Type, At: r.At.UTC(), UserID: r.UserID, ActorID: r.ActorID, SessionID: r.SessionID, IP: r.IP, UserAgent: r.UserAgent}
		if err := json.Unmarshal([]byte(r.Details), &ev.Details); err != nil {
			return EventPage{}, fmt.Errorf("event %s details: %w", r.ID, err)
		}
		page.Events = append(page.Events, ev)
	}
	return page, nil
}

// retentionLockKey makes one replica at a time maintain the events table. A transaction-level
// advisory lock, taken with pg_try_advisory_xact_lock: it works through PgBouncer's
// transaction pooling, where a session lock would stay on a server connection another client
// then gets.
const retentionLockKey = 7_240_911_028_417

// PartitionsAhead is how many months of partitions, from the current one, maintenance keeps
// created.
const PartitionsAhead = 3

// retentionBatch bounds one DELETE inside the month that straddles the retention cutoff.
const retentionBatch = 5000

// MaintainResult says what one maintenance run did.
type MaintainResult struct {
	// Skipped: another replica held the lock; this one did nothing.
	Skipped bool
	// Created counts partitions created ahead, Dropped whole months dropped, Deleted the rows
	// deleted in batches from the month the cutoff falls in.
	Created, Dropped int
	Deleted          int64
}

// Maintain creates the partitions of the coming months, then removes the events older than
// retention (before now - retention): whole months are dropped, each in a short transaction;
// the rows of the month the cutoff falls in are deleted in batches of retentionBatch, each its
// own transaction. Every transaction takes the maintenance lock with pg_try_advisory_xact_lock
// and a short lock_timeout, so two replicas never work at once and an insert waits for a DDL
// lock at most that long; a run that cannot get a lock stops and the next run carries on.
func (s *EventStore) Maintain(ctx context.Context, retention time.Duration, now time.Time) (MaintainResult, error) {
	var res MaintainResult
	cutoff := now.Add(-retention).UTC()
	locked := func(fn func(ctx context.Context, tx bun.Tx) error) (bool, error) {
		ctx, cancel := context.WithTimeout(ctx, max(s.timeout, 10*time.Second))
		defer cancel()
		got := false
		err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			if err := tx.QueryRowContext(ctx, "SELECT pg_try_advisory_xact_lock(?)", retentionLockKey).Scan(&got); err != nil || !got {
				return err
			}
			if _, err := tx.ExecContext(ctx, "SET LOCAL lock_timeout = '500ms'"); err != nil {
				return err
			}
			return fn(ctx, tx)
		})
		return got, dbError(err)
	}
	got, err := locked(func(ctx context.Context, tx bun.Tx) error {
		return tx.QueryRowContext(ctx, "SELECT events_ensure_partitions(?, ?)", now.UTC(), PartitionsAhead).Scan(&res.Created)
	})
	if err != nil || !got {
		res.Skipped = !got
		return res, err
	}
	// Whole months that end at or before the cutoff.
	var parts []string
	err = s.db.NewRaw(`SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'events'::regclass ORDER BY c.relname`).Scan(ctx, &parts)
	if err != nil {
		return res, dbError(err)
	}
	for _, name := range parts {
		month, err := time.Parse("200601", strings.TrimPrefix(name, "events_p"))
		if err != nil || month.AddDate(0, 1, 0).After(cutoff) {
			continue
		}
		got, err := locked(func(ctx context.Context, tx bun.Tx) error {
			_, err := tx.NewRaw("DROP TABLE ?", bun.Ident(name)).Exec(ctx)
			return err
		})
		if err != nil || !got {
			return res, err
		}
		res.Dropped++
	}
	// The month the cutoff falls in: bounded batches, so no statement holds locks or builds
	// up dead rows for long.
	for {
		var n int64
		got, err := locked(func(ctx context.Context, tx bun.Tx) error {
			r, err := tx.ExecContext(ctx, `DELETE FROM events WHERE (at, id) IN
				(SELECT at, id FROM events WHERE at < ? ORDER BY at LIMIT ?)`, cutoff, retentionBatch)
			if err != nil {
				return err
			}
			n, _ = r.RowsAffected()
			return nil
		})
		if err != nil || !got {
			return res, err
		}
		res.Deleted += n
		if n < retentionBatch {
			return res, nil
		}
	}
}
