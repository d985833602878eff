package models

import (
	"context"
	"fmt"
	"time"
)

// Accounts applies the administration of accounts together with the rule that comes with it:
// a suspension or a demotion revokes every token of the user, since tokens carry the role and
// a suspended user must hold none. The change is saved in Postgres first and the tokens are
// revoked after, which is the order the token design relies on (doc.go).
type Accounts struct {
	users  UserStore
	tokens *TokenStore
}

// NewAccounts returns the service over users and tokens.
func NewAccounts(users UserStore, tokens *TokenStore) *Accounts {
	return &Accounts{users: users, tokens: tokens}
}

// Outcome is what an administration command did: the user as saved, and whether and how many
// whitelisted tokens it revoked.
type Outcome struct {
	User    *User
	Revoked bool
	// Deleted counts the whitelist keys deleted; every token is refused whatever it says.
	Deleted int
}

// SetRole gives the user with email the role; any role but admin revokes the user's tokens.
func (a *Accounts) SetRole(ctx context.Context, email string, role Role) (Outcome, error) {
	user, err := a.users.SetRole(ctx, email, role)
	if err != nil {
		return Outcome{}, err
	}
	return a.revokeIf(ctx, user, role != RoleAdmin, "role change")
}

// Suspend suspends the user with email (reason and until may be nil) and revokes its tokens.
func (a *Accounts) Suspend(ctx context.Context, email string, reason *string, until *time.Time) (Outcome, error) {
	user, err := a.users.Suspend(ctx, email, reason, until)
	if err != nil {
		return Outcome{}, err
	}
	return a.revokeIf(ctx, user, true, "suspension")
}

// Activate lifts a suspension; it revokes nothing.
func (a *Accounts) Activate(ctx context.Context, email string) (Outcome, error) {
	user, err := a.users.Activate(ctx, email)
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{User: user}, nil
}

func (a *Accounts) revokeIf(ctx context.Context, user *User, revoke bool, what string) (Outcome, error) {
	out := Outcome{User: user}
	if !revoke {
		return out, nil
	}
	n, err := a.tokens.RevokeAll(ctx, user.ID.String())
	if err != nil {
		return out, fmt.Errorf("%s saved, but the user's tokens could not be revoked (run the command again): %w", what, err)
	}
	out.Revoked, out.Deleted = true, n
	return out, nil
}
