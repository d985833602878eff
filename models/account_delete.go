package models

import (
	"context"
	"database/sql"
	"errors"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// DeleteAccount removes the user and everything that hangs off it, in one transaction that holds
// the user row: its sessions and refresh tokens (leaving only tombstones of the session ids,
// for the reconciliation of a Redis that lost data), MFA data, pending second steps, mail tokens
// and queued mail to its address. check runs first inside the transaction (the second factor's
// code, spent only if the deletion commits). Then Redis is told: every token of the user is
// refused at once, on every instance. The counts stay exact (statement triggers), and the email
// can register again.
//
// ev (may be nil) is recorded in the same transaction (user.deleted): the audit trail keeps the
// user id; no event ever holds the email.
func (s *Sessions) DeleteAccount(ctx context.Context, userID uuid.UUID, ev *Event, check func(ctx context.Context, db bun.IDB) error) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var ids []uuid.UUID
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var email string
		err := tx.QueryRowContext(ctx, "SELECT email FROM users WHERE id = ? FOR UPDATE", userID).Scan(&email)
		if errors.Is(err, sql.ErrNoRows) {
			return Errorf(CodeUnauthorized, "user no longer exists")
		}
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(ctx, tx); err != nil {
				return err
			}
		}
		if err := tx.NewRaw("SELECT id FROM sessions WHERE user_id = ?", userID).Scan(ctx, &ids); err != nil {
			return err
		}
		now := s.now()
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{"INSERT INTO session_tombstones (id, revoked_at) SELECT id, ? FROM sessions WHERE user_id = ? ON CONFLICT DO NOTHING", []any{now, userID}},
			{"DELETE FROM refresh_tokens WHERE session_id IN (SELECT id FROM sessions WHERE user_id = ?)", []any{userID}},
			{"DELETE FROM sessions WHERE user_id = ?", []any{userID}},
			{"DELETE FROM mfa_factors WHERE user_id = ?", []any{userID}},
			{"DELETE FROM mfa_recovery_codes WHERE user_id = ?", []any{userID}},
			{"DELETE FROM mfa_challenges WHERE user_id = ?", []any{userID}},
			{"DELETE FROM mail_tokens WHERE user_id = ?", []any{userID}},
			{"DELETE FROM mail_outbox WHERE lower(recipient) = lower(?) OR user_id = ?", []any{email, userID}},
			{"DELETE FROM users WHERE id = ?", []any{userID}},
		} {
			if _, err := tx.ExecContext(ctx, q.sql, q.args...); err != nil {
				return err
			}
		}
		return s.record(ctx, tx, ev, userID, uuid.Nil)
	})
	if err != nil {
		return sessionError(err)
	}
	if s.events != nil {
		s.events.Notify()
	}
	return s.tokens.Drop(ctx, ids)
}
