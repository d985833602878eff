package models

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// EventType names a security event of the audit trail.
type EventType string

// The event types of the contract ("Audit trail and webhooks").
const (
	EventUserRegistered       EventType = "user.registered"
	EventUserVerified         EventType = "user.verified"
	EventLoginSucceeded       EventType = "login.succeeded"
	EventLoginFailed          EventType = "login.failed"
	EventSessionRefreshed     EventType = "session.refreshed"
	EventSessionRevoked       EventType = "session.revoked"
	EventRefreshReused        EventType = "refresh.reused"
	EventLogout               EventType = "logout"
	EventLogoutAll            EventType = "logout_all"
	EventPasswordChanged      EventType = "password.changed"
	EventPasswordResetRequest EventType = "password.reset_requested"
	EventPasswordReset        EventType = "password.reset"
	EventEmailChangeRequested EventType = "email.change_requested"
	EventEmailChanged         EventType = "email.changed"
	EventMFAEnabled           EventType = "mfa.enabled"
	EventMFADisabled          EventType = "mfa.disabled"
	EventMFARecoveryUsed      EventType = "mfa.recovery_used"
	EventRoleChanged          EventType = "role.changed"
	EventUserSuspended        EventType = "user.suspended"
	EventUserActivated        EventType = "user.activated"
	EventUserDeleted          EventType = "user.deleted"
	EventUsersImported        EventType = "users.imported"
)

// EventTypes lists every event type, in the contract's order.
var EventTypes = []EventType{
	EventUserRegistered, EventUserVerified, EventLoginSucceeded, EventLoginFailed,
	EventSessionRefreshed, EventSessionRevoked, EventRefreshReused, EventLogout, EventLogoutAll,
	EventPasswordChanged, EventPasswordResetRequest, EventPasswordReset, EventEmailChangeRequested,
	EventEmailChanged, EventMFAEnabled, EventMFADisabled, EventMFARecoveryUsed, EventRoleChanged,
	EventUserSuspended, EventUserActivated, EventUserDeleted, EventUsersImported,
}

// ParseEventType returns the event type named s, or a validation error.
func ParseEventType(s string) (EventType, error) {
	for _, t := range EventTypes {
		if string(t) == s {
			return t, nil
		}
	}
	return "", Errorf(CodeValidation, "type is not an event type")
}

// The reasons of login.failed.
const (
	LoginFailedBadPassword  = "bad_password"
	LoginFailedUnknownEmail = "unknown_email"
	LoginFailedSuspended    = "suspended"
	LoginFailedRateLimited  = "rate_limited"
	LoginFailedMFA          = "mfa_failed"
)

// Event is one entry of the audit trail, and the body of its webhook. UserID is the account
// the event is about, ActorID who caused it when that is someone else (an admin), SessionID
// the session it happened in. IP and UserAgent describe the client ("" with none, as from the
// CLI). Details never hold a password, hash, token, code or link: Record refuses detail names
// that look like one.
type Event struct {
	ID        uuid.UUID      `json:"id"`
	Type      EventType      `json:"type"`
	At        time.Time      `json:"at"`
	UserID    *uuid.UUID     `json:"user_id"`
	ActorID   *uuid.UUID     `json:"actor_id"`
	SessionID *uuid.UUID     `json:"session_id"`
	IP        string         `json:"ip"`
	UserAgent string         `json:"user_agent"`
	Details   map[string]any `json:"details"`
}

// UUIDRef returns a pointer to id, or nil for uuid.Nil: the form of Event's optional ids.
func UUIDRef(id uuid.UUID) *uuid.UUID {
	if id == uuid.Nil {
		return nil
	}
	return &id
}

// WithClient returns ev with the client's address and user agent.
func (ev Event) WithClient(c Client) Event {
	ev.IP, ev.UserAgent = c.IP, cutUserAgent(c.UserAgent)
	return ev
}

// MarshalJSON writes the wire form of an event (API and webhook): times in UTC, RFC 3339 with
// nanoseconds, details always an object.
func (ev *Event) MarshalJSON() ([]byte, error) {
	type wire Event
	w := wire(*ev)
	w.At = w.At.UTC()
	if w.Details == nil {
		w.Details = map[string]any{}
	}
	return json.Marshal(w)
}

// forbiddenDetail reports whether a detail name looks like a secret or something that grants
// access: none of these may ever be stored in an event or sent in a webhook.
func forbiddenDetail(name string) bool {
	n := strings.ToLower(name)
	for _, w := range []string{"password", "hash", "token", "code", "link", "secret", "url"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// WebhookFilter decides which event types are POSTed to the webhook; nil: none.
type WebhookFilter func(EventType) bool

// EventWriter writes events: into events, and, when webhooks are on and the type passes the
// filter, into webhook_outbox in the same statement (one round trip, one atomic write). Record
// works inside the caller's transaction, so an event commits with the change it describes.
type EventWriter struct {
	db      *bun.DB
	timeout time.Duration
	webhook WebhookFilter
	now     func() time.Time
	// queued wakes this process's webhook worker after a commit; may be nil.
	queued func()
}

// NewEventWriter returns a writer over db (for Write; Record takes the caller's db). webhook
// selects the types that are delivered (nil: webhooks off); now is the clock.
func NewEventWriter(db *bun.DB, timeout time.Duration, webhook WebhookFilter, now func() time.Time) *EventWriter {
	return &EventWriter{db: db, timeout: timeout, webhook: webhook, now: now}
}

// OnQueued sets fn to be called after Write queued a webhook delivery (the worker's Notify).
func (w *EventWriter) OnQueued(fn func()) { w.queued = fn }

// Notify wakes the webhook worker, if any: callers of Record call it after their commit.
func (w *EventWriter) Notify() {
	if w != nil && w.queued != nil && w.webhook != nil {
		w.queued()
	}
}

const insertEventColumns = `INSERT INTO events (id, type, at, user_id, actor_id, session_id, ip, user_agent, details) VALUES `

// Record writes ev inside db (a transaction of the change ev goes with, or the pool). It fills
// ID and At when unset. A nil writer records nothing.
func (w *EventWriter) Record(ctx context.Context, db bun.IDB, ev Event) error {
	return w.RecordAll(ctx, db, ev)
}

// RecordAll writes evs inside db in one statement: one multi-row INSERT into events and, with
// webhooks on, the deliveries of the types that pass the filter in a CTE of the same statement.
func (w *EventWriter) RecordAll(ctx context.Context, db bun.IDB, evs ...Event) error {
	if w == nil || len(evs) == 0 {
		return nil
	}
	var rows, deliveries strings.Builder
	var args, deliveryArgs []any
	for i := range evs {
		ev := &evs[i]
		if ev.ID == uuid.Nil {
			ev.ID = uuid.New()
		}
		if ev.At.IsZero() {
			ev.At = w.now()
		}
		ev.At = ev.At.UTC().Truncate(time.Microsecond) // what Postgres keeps
		ev.UserAgent = cutUserAgent(ev.UserAgent)
		if ev.Details == nil {
			ev.Details = map[string]any{}
		}
		for name := range ev.Details {
			if forbiddenDetail(name) {
				return Errorf(CodeInternal, "event %s: detail %q may hold a secret", ev.Type, name)
			}
		}
		details, err := json.Marshal(ev.Details)
		if err != nil {
			return err
		}
		if i > 0 {
			rows.WriteString(", ")
		}
		rows.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb)")
		args = append(args, ev.ID, ev.Type, ev.At, ev.UserID, ev.ActorID, ev.SessionID, ev.IP, ev.UserAgent, string(details))
		if w.webhook != nil && w.webhook(ev.Type) {
			body, err := json.Marshal(ev)
			if err != nil {
				return err
			}
			if deliveries.Len() > 0 {
				deliveries.WriteString(", ")
			}
			deliveries.WriteString("(?, ?, ?)")
			deliveryArgs = append(deliveryArgs, ev.ID, ev.Type, string(body))
		}
	}
	query := insertEventColumns + rows.String()
	if deliveries.Len() > 0 {
		query = `WITH e AS (` + query + `) INSERT INTO webhook_outbox (event_id, kind, payload) VALUES ` + deliveries.String()
		args = append(args, deliveryArgs...)
	}
	_, err := db.NewRaw(query, args...).Exec(ctx)
	return dbError(err)
}

// Write records ev on its own (failed logins, reuse: events that go with no change), under the
// writer's deadline, and wakes the webhook worker.
func (w *EventWriter) Write(ctx context.Context, ev Event) error {
	if w == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	if err := w.Record(ctx, w.db, ev); err != nil {
		return err
	}
	w.Notify()
	return nil
}
