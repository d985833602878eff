package models

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Accounts applies the administration of accounts together with the rule that comes with it:
// a suspension ends every session of the user, and a demotion refuses every access token of
// the user (tokens carry the role; the sessions stay, and their next refresh carries the new
// role). The change is saved in Postgres first and Redis is told after; both revocations are
// recorded in Postgres, so they survive Redis losing data (doc.go).
type Accounts struct {
	users    UserStore
	sessions *Sessions
}

// NewAccounts returns the service over users and sessions.
func NewAccounts(users UserStore, sessions *Sessions) *Accounts {
	return &Accounts{users: users, sessions: sessions}
}

// Outcome is what an administration command did: the user as saved, and whether and how many
// sessions it revoked.
type Outcome struct {
	User    *User
	Revoked bool
	// Sessions counts the sessions ended (suspension) or whose access tokens were refused
	// (demotion).
	Sessions int
}

// SetRole gives the user with email the role; any role but admin refuses the user's tokens.
func (a *Accounts) SetRole(ctx context.Context, email string, role Role) (Outcome, error) {
	user, err := a.users.SetRole(ctx, email, role)
	if err != nil {
		return Outcome{}, err
	}
	out := Outcome{User: user}
	if role == RoleAdmin {
		return out, nil
	}
	n, err := a.sessions.RevokeAccess(ctx, user.ID)
	if err != nil {
		return out, fmt.Errorf("role change saved, but the user's tokens could not be revoked (run the command again): %w", err)
	}
	out.Revoked, out.Sessions = true, n
	return out, nil
}

// Suspend suspends the user with email (reason and until may be nil) and ends its sessions.
func (a *Accounts) Suspend(ctx context.Context, email string, reason *string, until *time.Time) (Outcome, error) {
	user, err := a.users.Suspend(ctx, email, reason, until)
	if err != nil {
		return Outcome{}, err
	}
	out := Outcome{User: user}
	n, err := a.sessions.RevokeAll(ctx, user.ID, uuid.Nil, EndSuspended)
	if err != nil {
		return out, fmt.Errorf("suspension saved, but the user's sessions could not be ended (run the command again): %w", err)
	}
	out.Revoked, out.Sessions = true, n
	return out, nil
}

// Activate lifts a suspension; it revokes nothing.
func (a *Accounts) Activate(ctx context.Context, email string) (Outcome, error) {
	user, err := a.users.Activate(ctx, email)
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{User: user}, nil
}
