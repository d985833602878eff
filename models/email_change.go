package models

import (
	"context"
	"database/sql"
	"errors"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// changeRow is the insert shape of an email change's outbox rows.
type changeRow struct {
	bun.BaseModel `bun:"table:mail_outbox"`

	Kind      MailKind   `bun:"kind"`
	Recipient string     `bun:"recipient"`
	UserID    uuid.UUID  `bun:"user_id,type:uuid"`
	SessionID *uuid.UUID `bun:"session_id,type:uuid"`
}

// RequestEmailChange queues, in one transaction with ev (may be nil), the confirmation to
// newEmail (its token is minted at delivery) and the notice to the user's current address.
// Whether newEmail is taken is not looked at: the answer is the same for every address, and
// the confirmation decides (409).
func (s *AccountStore) RequestEmailChange(ctx context.Context, userID uuid.UUID, oldEmail, newEmail string, sessionID uuid.UUID, ev *Event) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		rows := []changeRow{
			{Kind: MailEmailChange, Recipient: newEmail, UserID: userID, SessionID: UUIDRef(sessionID)},
			{Kind: MailEmailNotice, Recipient: oldEmail, UserID: userID},
		}
		if _, err := tx.NewInsert().Model(&rows).Exec(ctx); err != nil {
			return err
		}
		if ev != nil && s.events != nil {
			return s.events.Record(ctx, tx, *ev)
		}
		return nil
	})
	if err == nil && s.events != nil {
		s.events.Notify()
	}
	return dbError(err)
}

// PendingEmailChange is what a live email-change token asks for.
type PendingEmailChange struct {
	UserID    uuid.UUID
	NewEmail  string
	SessionID uuid.UUID
}

// EmailChangeOf reads a live email-change token without spending it.
func (s *AccountStore) EmailChangeOf(ctx context.Context, tokenHash []byte) (*PendingEmailChange, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var p PendingEmailChange
	var sid *uuid.UUID
	err := s.db.QueryRowContext(ctx, `SELECT t.user_id, t.new_email, t.session_id FROM mail_tokens t JOIN users u ON u.id = t.user_id
		WHERE t.token_hash = ? AND t.kind = 'email_change' AND t.used_at IS NULL AND t.expires_at > clock_timestamp()`, tokenHash).
		Scan(&p.UserID, &p.NewEmail, &sid)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrInvalidMailToken()
	}
	if err != nil {
		return nil, dbError(err)
	}
	if sid != nil {
		p.SessionID = *sid
	}
	return &p, nil
}

// ConfirmEmailChangeIn spends the token and moves the user to the new address (in db, a
// transaction that also ends the user's other sessions); a spent or expired token is
// ErrInvalidMailToken, an address taken meanwhile (in any case) is a conflict that changes
// nothing. The unique index on lower(email) decides two confirmations of one address at once.
func (s *AccountStore) ConfirmEmailChangeIn(ctx context.Context, db bun.IDB, tokenHash []byte) (*User, error) {
	var userID uuid.UUID
	var newEmail string
	err := db.QueryRowContext(ctx, `UPDATE mail_tokens SET used_at = clock_timestamp()
		WHERE token_hash = ? AND kind = 'email_change' AND used_at IS NULL AND expires_at > clock_timestamp()
		RETURNING user_id, new_email`, tokenHash).Scan(&userID, &newEmail)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrInvalidMailToken()
	}
	if err != nil {
		return nil, err
	}
	u := new(User)
	err = db.NewRaw(`UPDATE users u SET email = ?, email_verified_at = clock_timestamp() WHERE id = ? RETURNING `+userColumns, newEmail, userID).Scan(ctx, u)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrInvalidMailToken()
	}
	if err != nil {
		if ErrorCode(dbError(err)) == CodeConflict {
			return nil, Errorf(CodeConflict, "email already exists")
		}
		return nil, err
	}
	return u, nil
}
