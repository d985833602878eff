package models

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// Status is the lifecycle state of an account.
type Status string

// The account states.
const (
	StatusActive              Status = "active"
	StatusSuspended           Status = "suspended"
	StatusPendingVerification Status = "pending_verification"
)

// Role decides what a token may do.
type Role string

// The roles.
const (
	RoleUser  Role = "user"
	RoleAdmin Role = "admin"
)

// ParseRole returns the role named s, or a validation error.
func ParseRole(s string) (Role, error) {
	switch Role(s) {
	case RoleUser, RoleAdmin:
		return Role(s), nil
	}
	return "", Errorf(CodeValidation, "role must be user or admin, not %q", s)
}

// User is a row of the users table. PasswordHash never leaves the server: the HTTP layer
// encodes users through its own response type.
type User struct {
	bun.BaseModel `bun:"table:users,alias:u"`

	ID               uuid.UUID  `bun:"id,pk,type:uuid,default:gen_random_uuid()"`
	Email            string     `bun:"email,notnull"`
	PasswordHash     string     `bun:"password_hash,notnull"`
	Status           Status     `bun:"status,notnull"`
	SuspensionReason *string    `bun:"suspension_reason"`
	SuspendedUntil   *time.Time `bun:"suspended_until"`
	Role             Role       `bun:"role,notnull"`
	CreatedAt        time.Time  `bun:"created_at,notnull,default:clock_timestamp()"`
	// EmailVerifiedAt is when the address was proven (verification, or a reset through a
	// mailed link); nil until then. Not part of the wire shape.
	EmailVerifiedAt *time.Time `bun:"email_verified_at"`
	// SessionEpoch counts the revocations of all the user's sessions; a login compares the value
	// it read before the password check with the one it finds when it opens the session.
	SessionEpoch int64 `bun:"session_epoch,notnull,default:0"`
	// TokensRevokedAt is when every access token of the user was last refused while the
	// sessions stayed (a demotion); the Reconciler reads it.
	TokensRevokedAt *time.Time `bun:"tokens_revoked_at"`
	// MFAEnabled says a second factor is required at login (GET /auth/me shows it).
	MFAEnabled bool `bun:"mfa_enabled,notnull,default:false"`
}

// IsSuspendedAt reports whether the account is suspended at instant now: a suspension with no
// end, or one that ends after now.
func (u *User) IsSuspendedAt(now time.Time) bool {
	return u.Status == StatusSuspended && (u.SuspendedUntil == nil || u.SuspendedUntil.After(now))
}

// Stats counts users by status.
type Stats struct {
	Total     int64
	Active    int64
	Suspended int64
	Pending   int64
}

// Cursor is a position in the (created_at, id) order of users.
type Cursor struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// Page is one page of users in (created_at, id) order.
type Page struct {
	Users []User
	// Next is the position after the last user, nil when no user follows.
	Next *Cursor
}

// UserStore is the persistence of users.
type UserStore interface {
	// Create inserts u (its Email normalised); a taken email is a CodeConflict error.
	Create(ctx context.Context, u *User) error
	ByID(ctx context.Context, id uuid.UUID) (*User, error)
	// ByEmail finds a user by normalised email, case-insensitively; none is CodeNotFound.
	ByEmail(ctx context.Context, email string) (*User, error)
	EmailExists(ctx context.Context, email string) (bool, error)
	// ListOffset returns the page at offset (slow at depth: prefer ListAfter).
	ListOffset(ctx context.Context, offset, limit int) (Page, error)
	// ListAfter returns up to limit users after cursor (nil: from the start).
	ListAfter(ctx context.Context, cursor *Cursor, limit int) (Page, error)
	Stats(ctx context.Context) (Stats, error)
	SetRole(ctx context.Context, email string, role Role) (*User, error)
	Suspend(ctx context.Context, email string, reason *string, until *time.Time) (*User, error)
	Activate(ctx context.Context, email string) (*User, error)
	// ReplacePasswordHash sets the hash of user id to newHash if it is still oldHash.
	ReplacePasswordHash(ctx context.Context, id uuid.UUID, oldHash, newHash string) error
	Ping(ctx context.Context) error
}
