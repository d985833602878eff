package models

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// Sessions opens, refreshes, lists and ends sessions. Postgres is the record: a session row,
// its refresh tokens (as hashes), and every revocation. Redis (TokenStore) is told which
// sessions and access tokens are live, for the one-round-trip check of every request; what it
// loses in a failover or a restart is put back by the Reconciler. doc.go has the design.
type Sessions struct {
	db      *bun.DB
	tokens  *TokenStore
	issuer  *Issuer
	opts    SessionOptions
	timeout time.Duration
	now     func() time.Time
	// events records the audit trail of logins, refreshes and revocations, each in the
	// transaction of its change; nil records nothing.
	events *EventWriter
}

// NewSessions returns the sessions service; now is the clock (time.Now outside tests); events
// (may be nil) writes the audit trail.
func NewSessions(db *bun.DB, tokens *TokenStore, issuer *Issuer, opts SessionOptions, timeout time.Duration, now func() time.Time, events *EventWriter) *Sessions {
	return &Sessions{db: db, tokens: tokens, issuer: issuer, opts: opts, timeout: timeout, now: now, events: events}
}

// Events returns the audit trail's writer (nil when there is none).
func (s *Sessions) Events() *EventWriter { return s.events }

// record writes ev in tx when ev is not nil, with userID and sid filled in when ev leaves
// them unset.
func (s *Sessions) record(ctx context.Context, tx bun.IDB, ev *Event, userID, sid uuid.UUID) error {
	if ev == nil {
		return nil
	}
	e := *ev
	if e.UserID == nil {
		e.UserID = UUIDRef(userID)
	}
	if e.SessionID == nil {
		e.SessionID = UUIDRef(sid)
	}
	return s.events.Record(ctx, tx, e)
}

// Options returns the lifetimes and limits in force.
func (s *Sessions) Options() SessionOptions { return s.opts }

var (
	// ErrInvalidCredentials is login's one 401 for an unknown email or a wrong password.
	ErrInvalidCredentials = Errorf(CodeUnauthorized, "invalid credentials")
	errSuspended          = Errorf(CodeForbidden, "account suspended")
	errSessionNotFound    = Errorf(CodeNotFound, "session")
)

// lockedUser is what a session decision reads of the user row, under a row lock.
type lockedUser struct {
	status         Status
	suspendedUntil *time.Time
	role           Role
	passwordHash   string
	sessionEpoch   int64
	mfaEnabled     bool
}

func (u *lockedUser) suspendedAt(now time.Time) bool {
	return u.status == StatusSuspended && (u.suspendedUntil == nil || u.suspendedUntil.After(now))
}

// lockUser reads the user row with lock ("FOR UPDATE" or "FOR SHARE"). The lock orders every
// session decision of a user against every revocation of all of them: both touch the user row
// first, then session rows, so they serialise and never deadlock.
func lockUser(ctx context.Context, tx bun.Tx, id uuid.UUID, lock string) (*lockedUser, error) {
	u := new(lockedUser)
	err := tx.QueryRowContext(ctx, "SELECT status, suspended_until, role, password_hash, session_epoch, mfa_enabled FROM users WHERE id = ? "+lock, id).
		Scan(&u.status, &u.suspendedUntil, &u.role, &u.passwordHash, &u.sessionEpoch, &u.mfaEnabled)
	if err != nil {
		return nil, err
	}
	return u, nil
}

// Open opens a session for a login that proved its password: in one transaction that holds
// the user row, it checks that the hash the password matched is still the stored one (a reset
// or change that committed meanwhile makes it 401), that the user is not suspended (403) and
// that no revocation of all the user's sessions happened since the login read the row (401),
// and that a user with MFA on brings a second factor (ErrMFARequired);
// then it writes the session, its refresh token, ends the least recently used sessions past
// MaxPerUser, and tells Redis, all before the commit. A revocation that comes after the commit
// finds the session; one that came before it is seen here.
func (s *Sessions) Open(ctx context.Context, proof LoginProof, client Client) (*Grant, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var grant *Grant
	var evicted []uuid.UUID
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		user, err := lockUser(ctx, tx, proof.UserID, "FOR UPDATE")
		if errors.Is(err, sql.ErrNoRows) {
			return ErrInvalidCredentials
		}
		if err != nil {
			return err
		}
		now := s.now()
		switch {
		case subtle.ConstantTimeCompare([]byte(user.passwordHash), []byte(proof.VerifiedHash)) != 1:
			return ErrInvalidCredentials // the password changed while this login checked the old one
		case user.suspendedAt(now):
			return errSuspended
		case user.sessionEpoch != proof.SessionEpoch:
			return Errorf(CodeUnauthorized, "sessions were revoked while signing in; sign in again")
		case user.mfaEnabled && len(proof.AMR) < 2:
			return ErrMFARequired // decided here, under the lock, so MFA turned on meanwhile counts
		}
		sess := &Session{
			ID: uuid.New(), UserID: proof.UserID, CreatedAt: now, LastUsedAt: now,
			ExpiresAt: now.Add(s.opts.MaxAge), IP: client.IP, UserAgent: cutUserAgent(client.UserAgent), AMR: proof.AMR,
		}
		if len(sess.AMR) == 0 {
			sess.AMR = []string{"pwd"}
		}
		if _, err := tx.NewInsert().Model(sess).ExcludeColumn("revoked_at", "revoke_reason").Exec(ctx); err != nil {
			return err
		}
		if evicted, err = s.evict(ctx, tx, proof.UserID, now); err != nil {
			return err
		}
		// The login's one event insert, in the session's transaction: login.succeeded, and
		// session.revoked for each session it evicted (the same statement).
		evs := []Event{Event{Type: EventLoginSucceeded, At: now, UserID: &proof.UserID, SessionID: &sess.ID,
			Details: map[string]any{"amr": sess.AMR}}.WithClient(client)}
		for _, id := range evicted {
			evs = append(evs, Event{Type: EventSessionRevoked, At: now, UserID: &proof.UserID, SessionID: &id,
				Details: map[string]any{"reason": EndEvicted}}.WithClient(client))
		}
		if err := s.events.RecordAll(ctx, tx, evs...); err != nil {
			return err
		}
		grant, err = s.grant(ctx, tx, sess, user.role, now)
		if err != nil {
			return err
		}
		return s.tokens.Drop(ctx, evicted)
	})
	if err != nil {
		if grant != nil {
			// Redis was told of a session that was never committed; nobody holds its tokens.
			_ = s.tokens.Drop(context.WithoutCancel(ctx), []uuid.UUID{grant.SessionID})
		}
		return nil, sessionError(err)
	}
	s.events.Notify()
	return grant, nil
}

// evict ends the user's least recently used live sessions past MaxPerUser.
func (s *Sessions) evict(ctx context.Context, tx bun.Tx, userID uuid.UUID, now time.Time) ([]uuid.UUID, error) {
	var ids []uuid.UUID
	err := tx.NewRaw(`UPDATE sessions SET revoked_at = ?, revoke_reason = ?
		WHERE id IN (SELECT id FROM sessions
			WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? AND last_used_at > ?
			ORDER BY last_used_at DESC, created_at DESC OFFSET ?)
		RETURNING id`, now, EndEvicted, userID, now, now.Add(-s.opts.IdleTimeout), s.opts.MaxPerUser).Scan(ctx, &ids)
	return ids, err
}

// grant issues an access token and a new refresh token for sess (in tx), stores the refresh
// token's hash, and tells Redis that the session and the token are live.
func (s *Sessions) grant(ctx context.Context, tx bun.Tx, sess *Session, role Role, now time.Time) (*Grant, error) {
	access, claims, err := s.issuer.Issue(sess.UserID, role, sess.ID, sess.AMR)
	if err != nil {
		return nil, err
	}
	refresh, hash, err := newRefreshToken()
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES (?, ?, ?)", hash, sess.ID, now); err != nil {
		return nil, err
	}
	ends := sess.EndsAt(s.opts.IdleTimeout)
	if err := s.tokens.Allow(ctx, sess.UserID, sess.ID, claims.ID, role, claims.ExpiresAt.Time, ends); err != nil {
		return nil, err
	}
	return &Grant{
		SessionID: sess.ID, UserID: sess.UserID,
		AccessToken: access, AccessExpiresAt: claims.ExpiresAt.Time,
		RefreshToken: refresh, RefreshExpiresAt: ends,
	}, nil
}

// refreshRow is a refresh token's row with its session's user.
type refreshRow struct {
	sessionID uuid.UUID
	userID    uuid.UUID
	spentAt   *time.Time
	successor []byte
}

// Refresh spends a refresh token and returns a new pair of the same session. All decisions
// about one token are taken under its session's row lock, so concurrent refreshes with one
// token serialise: the first spends it, and the others, within ReuseInterval, get the very pair
// it produced; later, the token revokes the session (reuse of a stolen token, or of one that
// leaked). Status and role are read afresh.
func (s *Sessions) Refresh(ctx context.Context, token string, client Client) (*Grant, error) {
	raw, hash, err := parseRefreshToken(token)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var row refreshRow
	err = s.db.QueryRowContext(ctx, "SELECT r.session_id, s.user_id FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id WHERE r.token_hash = ?", hash).
		Scan(&row.sessionID, &row.userID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errBadRefreshToken
	}
	if err != nil {
		return nil, sessionError(err)
	}
	var grant *Grant
	var drop bool
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		user, err := lockUser(ctx, tx, row.userID, "FOR SHARE")
		if errors.Is(err, sql.ErrNoRows) {
			return errBadRefreshToken
		}
		if err != nil {
			return err
		}
		now := s.now()
		if user.suspendedAt(now) {
			return errSuspended
		}
		sess := new(Session)
		if err := tx.NewSelect().Model(sess).Where("id = ?", row.sessionID).For("UPDATE").Scan(ctx); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, "SELECT spent_at, successor FROM refresh_tokens WHERE token_hash = ?", hash).
			Scan(&row.spentAt, &row.successor); err != nil {
			return err
		}
		switch {
		case sess.RevokedAt != nil:
			drop = true // make sure: a revocation whose Redis step failed is finished here
			return errBadRefreshToken
		case !now.Before(sess.EndsAt(s.opts.IdleTimeout)):
			return errBadRefreshToken
		case row.spentAt != nil && now.Sub(*row.spentAt) <= s.opts.ReuseInterval && row.successor != nil:
			next, err := openSuccessor(raw, row.successor)
			if err != nil {
				return err
			}
			grant = &Grant{
				SessionID: sess.ID, UserID: sess.UserID,
				AccessToken: next.AccessToken, AccessExpiresAt: next.AccessExpiresAt,
				RefreshToken: next.RefreshToken, RefreshExpiresAt: next.RefreshExpiresAt,
			}
			return nil
		case row.spentAt != nil:
			return errReused // revoked by revokeReused, once this transaction has let go of the row
		}
		sess.LastUsedAt, sess.IP, sess.UserAgent = now, client.IP, cutUserAgent(client.UserAgent)
		if _, err := tx.NewUpdate().Model(sess).Column("last_used_at", "ip", "user_agent").WherePK().Exec(ctx); err != nil {
			return err
		}
		if grant, err = s.grant(ctx, tx, sess, user.role, now); err != nil {
			return err
		}
		sealed, err := sealSuccessor(raw, successor{
			AccessToken: grant.AccessToken, AccessExpiresAt: grant.AccessExpiresAt,
			RefreshToken: grant.RefreshToken, RefreshExpiresAt: grant.RefreshExpiresAt,
		})
		if err != nil {
			return err
		}
		if _, err = tx.ExecContext(ctx, "UPDATE refresh_tokens SET spent_at = ?, successor = ? WHERE token_hash = ?", now, sealed, hash); err != nil {
			return err
		}
		ev := Event{Type: EventSessionRefreshed, At: now}.WithClient(client)
		return s.record(ctx, tx, &ev, sess.UserID, sess.ID)
	})
	if errors.Is(err, errReused) || errors.Is(err, errBadRefreshToken) {
		if errors.Is(err, errReused) {
			if err := s.revokeReused(ctx, row.userID, row.sessionID, client); err != nil {
				return nil, err
			}
		} else if drop {
			if err := s.tokens.Drop(ctx, []uuid.UUID{row.sessionID}); err != nil {
				return nil, err
			}
		}
		return nil, err
	}
	if err != nil {
		return nil, sessionError(err)
	}
	s.events.Notify()
	return grant, nil
}

var errReused = Errorf(CodeUnauthorized, "refresh token reused")

// revokeReused ends a session whose spent refresh token came back after the reuse interval.
// Refresh's transaction found it and rolled back (it returns an error); this commits the
// revocation with its refresh.reused event, then drops the session from Redis. The revocation
// and the event are durable before the 401.
func (s *Sessions) revokeReused(ctx context.Context, userID, sid uuid.UUID, client Client) error {
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		now := s.now()
		if _, err := tx.ExecContext(ctx, "UPDATE sessions SET revoked_at = coalesce(revoked_at, ?), revoke_reason = coalesce(revoke_reason, ?) WHERE id = ?", now, EndReused, sid); err != nil {
			return err
		}
		ev := Event{Type: EventRefreshReused, At: now}.WithClient(client)
		return s.record(ctx, tx, &ev, userID, sid)
	})
	if err != nil {
		return sessionError(err)
	}
	s.events.Notify()
	return s.tokens.Drop(ctx, []uuid.UUID{sid})
}

// List returns the user's live sessions, most recently used first, at most MaxPerUser.
func (s *Sessions) List(ctx context.Context, userID uuid.UUID) ([]Session, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	now := s.now()
	var list []Session
	err := s.db.NewSelect().Model(&list).
		Where("user_id = ? AND revoked_at IS NULL AND expires_at > ? AND last_used_at > ?", userID, now, now.Add(-s.opts.IdleTimeout)).
		OrderExpr("last_used_at DESC, created_at DESC").Limit(s.opts.MaxPerUser).Scan(ctx)
	if err != nil {
		return nil, sessionError(err)
	}
	return list, nil
}

// Revoke ends the user's live session sid: its access and refresh tokens are refused from then
// on. A session that is not one of the user's live ones is CodeNotFound.
//
// ev (may be nil) is recorded in the revocation's transaction, with the user and the session
// filled in. jtis are whitelist entries to remove too (logout's own token): tidiness, since a
// token of an ended session is refused anyway.
func (s *Sessions) Revoke(ctx context.Context, userID, sid uuid.UUID, reason string, ev *Event, jtis ...string) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var ids []uuid.UUID
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		now := s.now()
		err := tx.NewRaw(`UPDATE sessions SET revoked_at = ?, revoke_reason = ?
			WHERE id = ? AND user_id = ? AND revoked_at IS NULL AND expires_at > ? AND last_used_at > ?
			RETURNING id`, now, reason, sid, userID, now, now.Add(-s.opts.IdleTimeout)).Scan(ctx, &ids)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			return errSessionNotFound
		}
		return s.record(ctx, tx, ev, userID, sid)
	})
	if err != nil {
		return sessionError(err)
	}
	s.events.Notify()
	return s.tokens.Drop(ctx, ids, jtis...)
}

// RevokeAll ends every session of the user but keep (uuid.Nil: none) and returns how many it
// ended. It also bumps the user's session epoch, so a login in flight, whose session is not
// written yet, opens none (Open). An unknown user is CodeNotFound. ev (may be nil) is recorded
// in the same transaction, with the user filled in.
func (s *Sessions) RevokeAll(ctx context.Context, userID, keep uuid.UUID, reason string, ev *Event) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var ids []uuid.UUID
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var err error
		ids, err = endAll(ctx, tx, userID, keep, reason, s.now())
		if err != nil {
			return err
		}
		return s.record(ctx, tx, ev, userID, uuid.Nil)
	})
	if err != nil {
		return 0, sessionError(err)
	}
	s.events.Notify()
	return len(ids), s.tokens.Drop(ctx, ids)
}

// EndAllWith runs change and ends every session of the user it names but keep, in one
// transaction: a password reset or change, or a verification, never commits without its
// revocation. change returns the user whose sessions end (uuid.Nil: none). ev (may be nil) is
// recorded in the same transaction, with that user filled in.
func (s *Sessions) EndAllWith(ctx context.Context, keep uuid.UUID, reason string, ev *Event, change func(ctx context.Context, db bun.IDB) (uuid.UUID, error)) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var ids []uuid.UUID
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		userID, err := change(ctx, tx)
		if err != nil || userID == uuid.Nil {
			return err
		}
		if ids, err = endAll(ctx, tx, userID, keep, reason, s.now()); err != nil {
			return err
		}
		return s.record(ctx, tx, ev, userID, uuid.Nil)
	})
	if err != nil {
		return sessionError(err)
	}
	s.events.Notify()
	return s.tokens.Drop(ctx, ids)
}

// endAll bumps the user's session epoch and marks every session of the user but keep revoked.
func endAll(ctx context.Context, tx bun.Tx, userID, keep uuid.UUID, reason string, now time.Time) ([]uuid.UUID, error) {
	res, err := tx.ExecContext(ctx, "UPDATE users SET session_epoch = session_epoch + 1 WHERE id = ?", userID)
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, Errorf(CodeNotFound, "user not found")
	}
	var ids []uuid.UUID
	err = tx.NewRaw(`UPDATE sessions SET revoked_at = ?, revoke_reason = ?
		WHERE user_id = ? AND revoked_at IS NULL AND id <> ? RETURNING id`, now, reason, userID, keep).Scan(ctx, &ids)
	return ids, err
}

// RevokeAccess refuses every access token of the user at once but keeps the sessions, whose
// next refresh carries the user's role of then: what a demotion does. It is recorded on the
// user row (tokens_revoked_at), so the Reconciler redoes it after Redis lost data.
func (s *Sessions) RevokeAccess(ctx context.Context, userID uuid.UUID) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var ids []uuid.UUID
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE users SET tokens_revoked_at = ? WHERE id = ?", s.now(), userID); err != nil {
			return err
		}
		return tx.NewRaw("SELECT id FROM sessions WHERE user_id = ? AND revoked_at IS NULL", userID).Scan(ctx, &ids)
	})
	if err != nil {
		return 0, sessionError(err)
	}
	return len(ids), s.tokens.Drop(ctx, ids)
}

// sessionError maps a store error: domain errors pass, the rest as the user store does.
func sessionError(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	if errors.Is(err, sql.ErrNoRows) {
		return errSessionNotFound
	}
	return dbError(err)
}
