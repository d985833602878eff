package app

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/example/authapi/config"
	"github.com/example/authapi/models"
)

// users runs the account administration commands.
func (cli CLI) users(ctx context.Context, cfg config.Config, args []string) error {
	if len(args) > 0 && args[0] == "import" {
		return cli.usersImport(ctx, cfg, args[1:])
	}
	if len(args) < 2 {
		return usageError{"users needs promote|suspend|activate EMAIL, or import"}
	}
	sub, email := args[0], args[1]
	fs := flag.NewFlagSet("users "+sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	role := fs.String("role", "", "admin or user")
	reason := fs.String("reason", "", "why the account is suspended")
	until := fs.String("until", "", "end of the suspension, RFC 3339")
	if err := fs.Parse(args[2:]); err != nil || fs.NArg() > 0 {
		return usageError{fmt.Sprintf("users %s: bad flags %q", sub, strings.Join(args[2:], " "))}
	}

	db := OpenDB(cfg.DB)
	defer db.Close()
	rdb, err := OpenRedis(cfg.Redis)
	if err != nil {
		return fmt.Errorf("%w: %w", config.ErrInvalid, err)
	}
	defer rdb.Close()
	store := models.NewBunUserStore(db, cfg.DB.QueryTimeout)
	tokens := models.NewTokenStore(rdb, cfg.Redis.Timeout)

	var (
		user   *models.User
		revoke bool
	)
	switch sub {
	case "promote":
		r, err := models.ParseRole(*role)
		if err != nil {
			return usageError{"users promote: --role must be admin or user"}
		}
		if user, err = store.SetRole(ctx, email, r); err != nil {
			return err
		}
		// Roles travel in tokens: a demoted admin's tokens must not keep admin rights.
		revoke = r != models.RoleAdmin
	case "suspend":
		var untilTime *time.Time
		if *until != "" {
			t, err := time.Parse(time.RFC3339, *until)
			if err != nil {
				return usageError{"users suspend: --until must be RFC 3339, e.g. 2027-01-31T00:00:00Z"}
			}
			untilTime = &t
		}
		var reasonPtr *string
		if *reason != "" {
			reasonPtr = reason
		}
		if user, err = store.Suspend(ctx, email, reasonPtr, untilTime); err != nil {
			return err
		}
		revoke = true
	case "activate":
		if user, err = store.Activate(ctx, email); err != nil {
			return err
		}
	default:
		return usageError{fmt.Sprintf("unknown users command %q", sub)}
	}
	fmt.Fprintf(cli.Stdout, "%s: %s is now role=%s status=%s\n", sub, user.Email, user.Role, user.Status)
	if revoke {
		n, err := tokens.RevokeAll(ctx, user.ID.String())
		if err != nil {
			return fmt.Errorf("%s saved, but the user's tokens could not be revoked: %w", sub, err)
		}
		fmt.Fprintf(cli.Stdout, "revoked %d live token(s)\n", n)
	}
	return nil
}
