package models

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// Accounts applies the administration of accounts together with the rule that comes with it:
// a suspension ends every session of the user, and a demotion refuses every access token of
// the user (tokens carry the role; the sessions stay, and their next refresh carries the new
// role). The change is saved in Postgres first and Redis is told after; both revocations are
// recorded in Postgres, so they survive Redis losing data (doc.go).
//
// Each change is written with its audit event (role.changed, user.suspended, user.activated)
// in one transaction; actor is who made it (uuid.Nil: the CLI's operator, unknown here).
type Accounts struct {
	users    *BunUserStore
	sessions *Sessions
}

// NewAccounts returns the service over users and sessions; events are written with the
// sessions' writer.
func NewAccounts(users *BunUserStore, sessions *Sessions) *Accounts {
	return &Accounts{users: users, sessions: sessions}
}

// inTx runs fn in a transaction with the user store over it.
func (a *Accounts) inTx(ctx context.Context, fn func(ctx context.Context, tx bun.Tx, users *BunUserStore) error) error {
	ctx, cancel := context.WithTimeout(ctx, a.sessions.timeout)
	defer cancel()
	return dbError(a.sessions.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		return fn(ctx, tx, a.users.In(tx))
	}))
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
	var user *User
	err := a.inTx(ctx, func(ctx context.Context, tx bun.Tx, users *BunUserStore) error {
		before, err := users.ByEmail(ctx, NormalizeEmail(email))
		if err != nil {
			return err
		}
		if user, err = users.SetRole(ctx, email, role); err != nil {
			return err
		}
		return a.sessions.events.Record(ctx, tx, Event{Type: EventRoleChanged, UserID: &user.ID,
			Details: map[string]any{"from": before.Role, "to": role}})
	})
	if err != nil {
		return Outcome{}, err
	}
	a.sessions.events.Notify()
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

// Suspend suspends the user with email (reason and until may be nil) and ends its sessions:
// the suspension, the end of the sessions and the user.suspended event commit together.
func (a *Accounts) Suspend(ctx context.Context, email string, reason *string, until *time.Time) (Outcome, error) {
	var user *User
	details := map[string]any{"until": until}
	if reason != nil {
		details["reason"] = *reason
	}
	n := 0
	err := a.sessions.EndAllWith(ctx, uuid.Nil, EndSuspended, &Event{Type: EventUserSuspended, Details: details},
		func(ctx context.Context, db bun.IDB) (uuid.UUID, error) {
			var err error
			if user, err = a.users.In(db).Suspend(ctx, email, reason, until); err != nil {
				return uuid.Nil, err
			}
			err = db.NewRaw("SELECT count(*) FROM sessions WHERE user_id = ? AND revoked_at IS NULL", user.ID).Scan(ctx, &n)
			return user.ID, err
		})
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{User: user, Revoked: true, Sessions: n}, nil
}

// Activate lifts a suspension; it revokes nothing.
func (a *Accounts) Activate(ctx context.Context, email string) (Outcome, error) {
	var user *User
	err := a.inTx(ctx, func(ctx context.Context, tx bun.Tx, users *BunUserStore) error {
		var err error
		if user, err = users.Activate(ctx, email); err != nil {
			return err
		}
		return a.sessions.events.Record(ctx, tx, Event{Type: EventUserActivated, UserID: &user.ID})
	})
	if err != nil {
		return Outcome{}, err
	}
	a.sessions.events.Notify()
	return Outcome{User: user}, nil
}
