package app

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
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
	if len(args) > 0 && args[0] == "mfa-reset" {
		return cli.usersMFAReset(ctx, cfg, args[1:])
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
	rdb, _, err := openReconciledRedis(cfg, db, slog.New(slog.NewTextHandler(cli.Stderr, nil)))
	if err != nil {
		return fmt.Errorf("%w: %w", config.ErrInvalid, err)
	}
	defer rdb.Close()
	sessions := NewSessions(cfg, db, models.NewTokenStore(rdb, cfg.Redis.Timeout))
	accounts := models.NewAccounts(models.NewBunUserStore(db, cfg.DB.QueryTimeout), sessions)

	var out models.Outcome
	switch sub {
	case "promote":
		r, parseErr := models.ParseRole(*role)
		if parseErr != nil {
			return usageError{"users promote: --role must be admin or user"}
		}
		out, err = accounts.SetRole(ctx, email, r)
	case "suspend":
		var untilTime *time.Time
		if *until != "" {
			t, parseErr := time.Parse(time.RFC3339, *until)
			if parseErr != nil {
				return usageError{"users suspend: --until must be RFC 3339, e.g. 2027-01-31T00:00:00Z"}
			}
			untilTime = &t
		}
		var reasonPtr *string
		if *reason != "" {
			reasonPtr = reason
		}
		out, err = accounts.Suspend(ctx, email, reasonPtr, untilTime)
	case "activate":
		out, err = accounts.Activate(ctx, email)
	default:
		return usageError{fmt.Sprintf("unknown users command %q", sub)}
	}
	return report(cli.Stdout, sub, out, err)
}

// report prints what a users command did; err is the command's (a saved change whose tokens
// could not be revoked comes with its user and an error).
func report(w io.Writer, sub string, out models.Outcome, err error) error {
	if out.User == nil {
		return err
	}
	fmt.Fprintf(w, "%s: %s is now role=%s status=%s\n", sub, out.User.Email, out.User.Role, out.User.Status)
	if err != nil {
		return err
	}
	if out.Revoked {
		fmt.Fprintf(w, "revoked every token (%d session(s))\n", out.Sessions)
	}
	return nil
}
