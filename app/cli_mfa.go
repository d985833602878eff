package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/example/authapi/config"
	"github.com/example/authapi/models"
)

// NewMFA returns the second-factor service of cfg over db (its keys nil when
// MFA_ENCRYPTION_KEY is unset: the MFA routes then answer 503).
func NewMFA(cfg config.Config, db *bun.DB) *models.MFA { return newMFA(cfg, db, time.Now) }

func newMFA(cfg config.Config, db *bun.DB, now func() time.Time) *models.MFA {
	var keys *models.MFAKeys
	if cfg.MFA.Key != nil {
		keys, _ = models.NewMFAKeys(cfg.MFA.Key, cfg.MFA.PreviousKey) // lengths checked by config
	}
	return models.NewMFA(db, models.MFAOptions{
		Issuer: cfg.MFA.Issuer, Keys: keys, ChallengeTTL: mfaChallengeTTL, MaxFailures: mfaMaxFailures,
	}, cfg.DB.QueryTimeout, now)
}

// The contract's second step: an mfa_token lives 5 minutes and dies at the fifth wrong code.
const (
	mfaChallengeTTL = 5 * time.Minute
	mfaMaxFailures  = 5
)

// usersMFAReset runs `users mfa-reset EMAIL`: MFA off and every session of the user ended, in
// one transaction (for a user who lost their authenticator and their recovery codes).
func (cli CLI) usersMFAReset(ctx context.Context, cfg config.Config, args []string) error {
	if len(args) != 1 {
		return usageError{"users mfa-reset needs EMAIL"}
	}
	email := models.NormalizeEmail(args[0])
	db := OpenDB(cfg.DB)
	defer db.Close()
	rdb, _, err := openReconciledRedis(cfg, db, slog.New(slog.NewTextHandler(cli.Stderr, nil)))
	if err != nil {
		return fmt.Errorf("%w: %w", config.ErrInvalid, err)
	}
	defer rdb.Close()
	user, err := models.NewBunUserStore(db, cfg.DB.QueryTimeout).ByEmail(ctx, email)
	if err != nil {
		return err
	}
	sessions := NewSessions(cfg, db, models.NewTokenStore(rdb, cfg.Redis.Timeout))
	ev := &models.Event{Type: models.EventMFADisabled, Details: map[string]any{"via": "cli"}}
	err = sessions.EndAllWith(ctx, uuid.Nil, models.EndMFA, ev, func(ctx context.Context, db bun.IDB) (uuid.UUID, error) {
		return user.ID, models.Remove(ctx, db, user.ID)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(cli.Stdout, "mfa-reset: %s has no second factor now; every session ended\n", user.Email)
	return nil
}

// mfa runs `mfa rekey`: every TOTP secret sealed under MFA_ENCRYPTION_KEY_PREVIOUS is sealed
// again under MFA_ENCRYPTION_KEY.
func (cli CLI) mfa(ctx context.Context, cfg config.Config, args []string) error {
	if len(args) != 1 || args[0] != "rekey" {
		return usageError{"mfa needs rekey"}
	}
	if cfg.MFA.Key == nil {
		return fmt.Errorf("%w: MFA_ENCRYPTION_KEY is not set", config.ErrInvalid)
	}
	db := OpenDB(cfg.DB)
	defer db.Close()
	moved, codes, err := NewMFA(cfg, db).Rekey(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(cli.Stdout, "mfa rekey: %d secret(s) re-encrypted under the current key\n", moved)
	if codes > 0 {
		fmt.Fprintf(cli.Stdout, "mfa rekey: %d user(s) hold recovery codes hashed under the previous key: keep MFA_ENCRYPTION_KEY_PREVIOUS until they regenerate them, or they can use only TOTP\n", codes)
	}
	return nil
}
