package models

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// AccountStore holds the account lifecycle's writes: registration with its verification
// message, mail requests, and the single-use tokens of verification and password reset. Each
// method is one transaction (most are one statement), under its own deadline.
type AccountStore struct {
	db      *bun.DB
	timeout time.Duration
	// events writes user.registered and password.reset_requested with their rows; nil: none.
	events *EventWriter
}

// NewAccountStore returns a store over db whose calls each get at most timeout.
func NewAccountStore(db *bun.DB, timeout time.Duration) *AccountStore {
	return &AccountStore{db: db, timeout: timeout}
}

// WithEvents returns a copy of the store that writes its audit events with w.
func (s *AccountStore) WithEvents(w *EventWriter) *AccountStore {
	c := *s
	c.events = w
	return &c
}

// outboxRow is the insert shape of a mail_outbox row; the database fills the rest.
type outboxRow struct {
	bun.BaseModel `bun:"table:mail_outbox"`

	Kind      MailKind `bun:"kind"`
	Recipient string   `bun:"recipient"`
}

// userColumns are the users columns a User scans, for statements that RETURNING from users.
const userColumns = "u.id, u.email, u.password_hash, u.status, u.suspension_reason, u.suspended_until, u.role, u.created_at, u.email_verified_at"

// spendToken marks a live token of a kind used and returns its user (arguments: hash, kind);
// markVerified records that the mailed link proved the address, which lifts a pending account.
const (
	//nolint:gosec // SQL text naming the token table, not a credential
	spendToken = `UPDATE mail_tokens SET used_at = clock_timestamp()
		 WHERE token_hash = ? AND kind = ? AND used_at IS NULL AND expires_at > clock_timestamp()
		RETURNING user_id`
	markVerified = `email_verified_at = coalesce(u.email_verified_at, clock_timestamp()),
		       status = CASE WHEN u.status = 'pending_verification' THEN 'active' ELSE u.status END`
)

// CreatePending inserts u (status and role as given) and its verification message in one
// transaction: the user never exists without the message that lets them verify. A taken email
// is a CodeConflict error and writes nothing. ev (may be nil) is recorded in the same
// transaction, with the new user's id.
func (s *AccountStore) CreatePending(ctx context.Context, u *User, ev *Event) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		_, err := tx.NewInsert().Model(u).
			Column("email", "password_hash", "status", "role").
			Returning("id, created_at").
			Exec(ctx)
		if err != nil {
			return err
		}
		if _, err = tx.NewInsert().Model(&outboxRow{Kind: MailVerify, Recipient: u.Email}).Exec(ctx); err != nil {
			return err
		}
		if ev == nil {
			return nil
		}
		e := *ev
		e.UserID = &u.ID
		return s.events.Record(ctx, tx, e)
	})
	if err == nil {
		s.events.Notify()
	}
	return dbError(err)
}

// Create inserts u (status and role as given) with its user.registered event ev (may be nil)
// in one transaction: an admin's batch, whose users are active and get no mail.
func (s *AccountStore) Create(ctx context.Context, u *User, ev *Event) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := (&BunUserStore{db: tx, timeout: s.timeout}).Create(ctx, u); err != nil {
			return err
		}
		if ev == nil {
			return nil
		}
		e := *ev
		e.UserID = &u.ID
		return s.events.Record(ctx, tx, e)
	})
	if err == nil {
		s.events.Notify()
	}
	return dbError(err)
}

// RequestMail queues a message of kind to email, whether or not an account uses it: the
// request costs the same for every address, and the delivery worker decides whether anything
// is sent (forgot: any account; resend: a pending one). ev (may be nil) is recorded in the
// same transaction, with the id of the account that uses email, if any: the same work for
// every address.
func (s *AccountStore) RequestMail(ctx context.Context, kind MailKind, email string, ev *Event) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if ev == nil || s.events == nil {
		_, err := s.db.NewInsert().Model(&outboxRow{Kind: kind, Recipient: email}).Exec(ctx)
		return dbError(err)
	}
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(&outboxRow{Kind: kind, Recipient: email}).Exec(ctx); err != nil {
			return err
		}
		var ids []uuid.UUID
		if err := tx.NewRaw("SELECT id FROM users WHERE lower(email) = lower(?)", email).Scan(ctx, &ids); err != nil {
			return err
		}
		e := *ev
		if len(ids) == 1 {
			e.UserID = &ids[0]
		}
		return s.events.Record(ctx, tx, e)
	})
	if err == nil {
		s.events.Notify()
	}
	return dbError(err)
}

// Verify spends a verification token and returns its user: a pending account becomes active; a
// suspended one stays suspended (its address is recorded as verified, so lifting the
// suspension is all it needs). An unknown, used or expired token is ErrInvalidMailToken.
func (s *AccountStore) Verify(ctx context.Context, tokenHash []byte) (*User, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.VerifyIn(ctx, s.db, tokenHash)
}

// VerifyIn is Verify inside db (a transaction that also ends the user's sessions).
func (s *AccountStore) VerifyIn(ctx context.Context, db bun.IDB, tokenHash []byte) (*User, error) {
	u := new(User)
	err := db.NewRaw(`
		WITH t AS (`+spendToken+`)
		UPDATE users u
		   SET `+markVerified+`
		  FROM t WHERE u.id = t.user_id
		RETURNING `+userColumns, tokenHash, MailVerify).Scan(ctx, u)
	return u, tokenError(err)
}

// ResetTokenUser returns the user of a live reset token without spending it, so the caller can
// hash the new password (slow) before the short transaction that spends it.
func (s *AccountStore) ResetTokenUser(ctx context.Context, tokenHash []byte) (uuid.UUID, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var id uuid.UUID
	err := s.db.NewRaw(`SELECT t.user_id FROM mail_tokens t JOIN users u ON u.id = t.user_id
		 WHERE t.token_hash = ? AND t.kind = 'reset' AND t.used_at IS NULL AND t.expires_at > clock_timestamp()`,
		tokenHash).Scan(ctx, &id)
	return id, tokenError(err)
}

// ResetPassword spends a reset token, kills every other live reset token of its user, and sets
// passwordHash, in one statement. A pending account becomes active (the link proved the
// address, as verification does); a suspension stays. A token spent or expired since
// ResetTokenUser is ErrInvalidMailToken and changes nothing.
func (s *AccountStore) ResetPassword(ctx context.Context, tokenHash []byte, passwordHash string) (*User, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.ResetPasswordIn(ctx, s.db, tokenHash, passwordHash)
}

// ResetPasswordIn is ResetPassword inside db (a transaction that also ends the user's sessions).
func (s *AccountStore) ResetPasswordIn(ctx context.Context, db bun.IDB, tokenHash []byte, passwordHash string) (*User, error) {
	u := new(User)
	err := db.NewRaw(`
		WITH t AS (`+spendToken+`),
		others AS (
			UPDATE mail_tokens m SET used_at = clock_timestamp()
			  FROM t WHERE m.user_id = t.user_id AND m.kind = 'reset' AND m.used_at IS NULL AND m.token_hash <> ?)
		UPDATE users u
		   SET password_hash = ?, `+markVerified+`
		  FROM t WHERE u.id = t.user_id
		RETURNING `+userColumns, tokenHash, MailReset, tokenHash, passwordHash).Scan(ctx, u)
	return u, tokenError(err)
}

// SetPassword replaces the password of userID, if its hash is still oldHash, and kills its live
// reset tokens: a reset link mailed before the change must not undo it. A hash changed
// meanwhile (a reset that raced the change) is CodeUnauthorized and changes nothing: the
// caller proved the old password, which is no longer the account's.
func (s *AccountStore) SetPassword(ctx context.Context, userID uuid.UUID, oldHash, passwordHash string) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.SetPasswordIn(ctx, s.db, userID, oldHash, passwordHash)
}

// SetPasswordIn is SetPassword inside db (a transaction that also ends the user's sessions).
func (s *AccountStore) SetPasswordIn(ctx context.Context, db bun.IDB, userID uuid.UUID, oldHash, passwordHash string) error {
	res, err := db.NewRaw(`
		WITH revoked AS (
			UPDATE mail_tokens SET used_at = clock_timestamp()
			 WHERE user_id = ? AND kind = 'reset' AND used_at IS NULL
			   AND EXISTS (SELECT 1 FROM users WHERE id = ? AND password_hash = ?))
		UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?`,
		userID, userID, oldHash, passwordHash, userID, oldHash).Exec(ctx)
	if err != nil {
		return dbError(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Errorf(CodeUnauthorized, "current password is incorrect")
	}
	return nil
}

// tokenError is dbError, with "no row" meaning the token is not (or no longer) valid.
func tokenError(err error) error {
	if err != nil && ErrorCode(dbError(err)) == CodeNotFound {
		return ErrInvalidMailToken()
	}
	return dbError(err)
}
