package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun/migrate"

	"github.com/example/authapi/config"
	"github.com/example/authapi/migrations"
	"github.com/example/authapi/models"
)

// Exit statuses of the binary.
const (
	ExitOK     = 0
	ExitFailed = 1 // the command ran and failed (unknown email, database unreachable)
	ExitUsage  = 2 // bad usage or bad configuration
)

const usage = `usage: authapi [command]

commands:
  serve                                   run the service (default)
  migrate up|down|status|create NAME      manage the database schema
  users promote EMAIL --role admin|user   set a user's role (demotion revokes their tokens)
  users suspend EMAIL [--reason R] [--until RFC3339]
                                          suspend a user and revoke their tokens
  users activate EMAIL                    lift a suspension
  healthcheck                             ask the admin /readyz (for container health checks)
  version                                 print the version

Configuration comes from the environment (and CONFIG_FILE); see .env.example.
`

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// CLI runs the binary's subcommands.
type CLI struct {
	Stdout, Stderr io.Writer
	Version        string
}

// Main runs args and returns the exit status.
func (cli CLI) Main(ctx context.Context, args []string) int {
	err := cli.run(ctx, args)
	var uerr usageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &uerr):
		fmt.Fprintf(cli.Stderr, "error: %s\n\n%s", uerr.msg, usage)
		return ExitUsage
	case errors.Is(err, config.ErrInvalid):
		fmt.Fprintf(cli.Stderr, "error: %v\n", err)
		return ExitUsage
	default:
		fmt.Fprintf(cli.Stderr, "error: %v\n", err)
		return ExitFailed
	}
}

func (cli CLI) run(ctx context.Context, args []string) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "help", "-h", "--help":
		fmt.Fprint(cli.Stdout, usage)
		return nil
	case "version", "--version":
		fmt.Fprintln(cli.Stdout, cli.Version)
		return nil
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	switch cmd {
	case "serve":
		if len(args) > 0 {
			return usageError{"serve takes no arguments"}
		}
		return cli.serve(ctx, cfg)
	case "migrate":
		return cli.migrate(ctx, cfg, args)
	case "users":
		return cli.users(ctx, cfg, args)
	case "healthcheck":
		return cli.healthcheck(ctx, cfg)
	}
	return usageError{fmt.Sprintf("unknown command %q", cmd)}
}

// NewLogger returns the slog logger that LOG_LEVEL and LOG_FORMAT ask for.
func NewLogger(cfg config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level)) // validated by config
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func (cli CLI) serve(ctx context.Context, cfg config.Config) error {
	logger := NewLogger(cfg.Log, cli.Stdout)
	a, err := New(cfg, logger)
	if err != nil {
		return err
	}
	ReserveProcsForBcrypt(a.Hasher, os.Getenv("GOMAXPROCS") != "")
	logger.Info("bcrypt", "concurrency", a.Hasher.Concurrency(), "nice", a.Hasher.Nice(), "gomaxprocs", runtime.GOMAXPROCS(0))
	return a.Run(ctx)
}

// ReserveProcsForBcrypt gives the Go runtime one P more per bcrypt slot (up to the CPU count)
// when bcrypt runs at low priority.
// A thread hashing at low priority still holds a P while it runs; without spare Ps a request
// goroutine would wait for the runtime's 10 ms preemption instead of the kernel's scheduler,
// which is what honours the lower priority. It is process-wide, so serve (and a benchmark) call
// it, not New; an explicit GOMAXPROCS is left as the operator set it. Setting GOMAXPROCS turns
// off Go's tracking of later changes to the container's CPU limit.
func ReserveProcsForBcrypt(hasher *models.Hasher, explicit bool) {
	if explicit || hasher.Nice() == 0 {
		return
	}
	procs := runtime.GOMAXPROCS(0)
	runtime.GOMAXPROCS(procs + min(hasher.Concurrency(), procs))
}

func (cli CLI) migrate(ctx context.Context, cfg config.Config, args []string) error {
	if len(args) == 0 {
		return usageError{"migrate needs up, down, status or create NAME"}
	}
	db := OpenDB(cfg.DB)
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	switch args[0] {
	case "up", "down":
		if len(args) != 1 {
			return usageError{"migrate " + args[0] + " takes no arguments"}
		}
		run := migrations.Up
		if args[0] == "down" {
			run = migrations.Down
		}
		group, err := run(ctx, db)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", args[0], err)
		}
		if group.IsZero() {
			fmt.Fprintln(cli.Stdout, "nothing to do")
			return nil
		}
		fmt.Fprintf(cli.Stdout, "migrate %s: %s\n", args[0], group)
		return nil
	case "status":
		migrator, err := migrations.NewMigrator(db)
		if err != nil {
			return err
		}
		if err := migrator.Init(ctx); err != nil {
			return fmt.Errorf("migrate status: %w", err)
		}
		ms, err := migrator.MigrationsWithStatus(ctx)
		if err != nil {
			return fmt.Errorf("migrate status: %w", err)
		}
		for _, m := range ms {
			state := "pending"
			if m.IsApplied() {
				state = "applied (group " + fmt.Sprint(m.GroupID) + ")"
			}
			fmt.Fprintf(cli.Stdout, "%s_%s\t%s\n", m.Name, m.Comment, state)
		}
		fmt.Fprintf(cli.Stdout, "%d applied, %d pending\n", len(ms.Applied()), len(ms.Unapplied()))
		return nil
	case "create":
		if len(args) != 2 {
			return usageError{"migrate create needs one NAME (lower case, digits, _ or -)"}
		}
		ms, err := migrations.New()
		if err != nil {
			return err
		}
		files, err := migrate.NewMigrator(db, ms).CreateTxSQLMigrations(ctx, args[1])
		if err != nil {
			return usageError{fmt.Sprintf("migrate create: %v", err)}
		}
		for _, f := range files {
			fmt.Fprintln(cli.Stdout, "created", f.Path)
		}
		return nil
	}
	return usageError{fmt.Sprintf("unknown migrate command %q", args[0])}
}

func (cli CLI) healthcheck(ctx context.Context, cfg config.Config) error {
	host := cfg.Admin.Host
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	url := "http://" + net.JoinHostPort(host, strconv.Itoa(cfg.Admin.Port)) + "/readyz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	fmt.Fprintln(cli.Stdout, "ready")
	return nil
}

// users runs the account administration commands.
func (cli CLI) users(ctx context.Context, cfg config.Config, args []string) error {
	if len(args) < 2 {
		return usageError{"users needs promote|suspend|activate EMAIL"}
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
