package models_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/example/authapi/app/apptest"
	"github.com/example/authapi/models"
)

// TestAccounts: suspension and demotion revoke every token of the user; promotion and
// activation revoke none.
func TestAccounts(t *testing.T) {
	t.Parallel()
	db, _ := apptest.MustOpenDB(t)
	users := models.NewBunUserStore(db, storeTimeout)
	tokens := models.NewTokenStore(mustRedis(t), storeTimeout)
	accounts := models.NewAccounts(users, tokens)
	ctx := context.Background()
	u := &models.User{Email: apptest.RandomName("acct-") + "@example.com", PasswordHash: "x", Status: models.StatusActive, Role: models.RoleUser}
	apptest.Must(t, users.Create(ctx, u), "create")
	token := func() string {
		epoch, err := tokens.Epoch(ctx, u.ID.String(), time.Hour)
		apptest.Must(t, err, "epoch")
		jti := uuid.NewString()
		apptest.Must(t, tokens.Allow(ctx, u.ID.String(), jti, models.RoleUser, epoch, time.Now().Add(time.Hour)), "allow")
		return jti
	}
	for _, tc := range []struct {
		name    string
		run     func() (models.Outcome, error)
		revokes bool
	}{
		{"OKPromoteKeeps", func() (models.Outcome, error) { return accounts.SetRole(ctx, u.Email, models.RoleAdmin) }, false},
		{"OKDemoteRevokes", func() (models.Outcome, error) { return accounts.SetRole(ctx, u.Email, models.RoleUser) }, true},
		{"OKSuspendRevokes", func() (models.Outcome, error) { return accounts.Suspend(ctx, u.Email, nil, nil) }, true},
		{"OKActivateKeeps", func() (models.Outcome, error) { return accounts.Activate(ctx, u.Email) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			jti := token()
			out, err := tc.run()
			apptest.Must(t, err, tc.name)
			live, err := tokens.Check(ctx, u.ID.String(), jti, models.RoleUser)
			apptest.Must(t, err, "check")
			if out.Revoked != tc.revokes || live == tc.revokes || out.User.ID != u.ID {
				t.Fatalf("revoked %v (deleted %d), token live %v; want revoked %v", out.Revoked, out.Deleted, live, tc.revokes)
			}
		})
	}
	t.Run("ErrUnknownEmail", func(t *testing.T) {
		if _, err := accounts.Suspend(ctx, "nobody@example.com", nil, nil); models.ErrorCode(err) != models.CodeNotFound {
			t.Fatalf("%v", err)
		}
	})
}
