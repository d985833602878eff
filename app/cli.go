package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/example/authapi/config"
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
  users mfa-reset EMAIL                   turn a user's second factor off and end their sessions
  mfa rekey                               re-encrypt TOTP secrets under MFA_ENCRYPTION_KEY
  users import --from-postgres URL | --file PATH|- [--dry-run]
                                          copy users from the old service (its database or
                                          JSON Lines); exit 1 if any row failed
  keys generate                           print a new Ed25519 signing key (PKCS#8 PEM) for
                                          JWT_SIGNING_KEYS_FILE; reads no configuration
  healthcheck                             ask the admin /readyz (for container health checks)
  version                                 print the version

Configuration comes from the environment (and CONFIG_FILE); see .env.example.
`

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// CLI runs the binary's subcommands.
type CLI struct {
	// Stdin is read by `users import --file -`; nil means os.Stdin.
	Stdin          io.Reader
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
	case errors.As(err, new(rowsFailed)):
		return ExitFailed // the import has printed its summary as the last line
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
	switch {
	case isHelp(cmd) && len(args) == 0:
		fmt.Fprint(cli.Stdout, usage)
		return nil
	case isHelp(cmd):
		return cli.help(args[0])
	case slices.ContainsFunc(args, isHelpFlag):
		// Help needs no configuration at all: answered before config.Load.
		return cli.help(cmd)
	}
	switch cmd {
	case "version", "--version":
		fmt.Fprintln(cli.Stdout, cli.Version)
		return nil
	case "keys":
		return cli.keys(args)
	case bcryptWorkerCommand:
		// Internal: the child that `serve` starts to run bcrypt (see cli_serve.go). It reads
		// no settings and holds no secrets.
		return cli.bcryptWorker(args)
	}
	if needsDatabase(cmd, args) && !config.IsSet("DATABASE_URL") && !config.IsSet("MIGRATE_DATABASE_URL") {
		// The default (localhost:5432) is for serve; by hand it reaches whatever Postgres the
		// machine runs and fails with that server's error, or worse, succeeds on it.
		return fmt.Errorf("%w: DATABASE_URL is not set; set it to the service's database (`just admin EMAIL` and `just migrate` use the private one of `just run`)", config.ErrInvalid)
	}
	if needsRedis(cmd, args) && !config.IsSet("REDIS_URL") && !config.IsSet("REDIS_CLUSTER_ADDRS") && !config.IsSet("REDIS_SENTINEL_ADDRS") {
		// A suspension or demotion revokes tokens in Redis: in a stranger's Redis on localhost
		// it would report success and revoke nothing.
		return fmt.Errorf("%w: REDIS_URL is not set; set it to the service's Redis (`just admin EMAIL` uses the private one of `just run`)", config.ErrInvalid)
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
	case "mfa":
		return cli.mfa(ctx, cfg, args)
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

func isHelp(arg string) bool { return arg == "help" || isHelpFlag(arg) }

// isHelpFlag is a help flag after a command; a bare "help" there may be a value (--reason help).
func isHelpFlag(arg string) bool { return arg == "-h" || arg == "--help" || arg == "-help" }

// needsDatabase reports whether cmd with args works on the database: serve keeps the default
// DATABASE_URL, every other database command wants one set.
func needsDatabase(cmd string, args []string) bool {
	switch cmd {
	case "users", "mfa":
		return true
	case "migrate":
		return len(args) == 0 || args[0] != "create"
	}
	return false
}

// needsRedis reports whether cmd with args revokes tokens: the users commands but import.
func needsRedis(cmd string, args []string) bool {
	return cmd == "users" && (len(args) == 0 || args[0] != "import")
}

// help prints the usage lines of cmd (the line naming it and the indented lines under it).
func (cli CLI) help(cmd string) error {
	var b strings.Builder
	in := false
	for line := range strings.Lines(usage) {
		switch {
		case strings.HasPrefix(line, "  "+cmd+" ") || line == "  "+cmd+"\n":
			in = true
		case !strings.HasPrefix(line, "        "):
			in = false
		}
		if in {
			b.WriteString(line)
		}
	}
	if b.Len() == 0 {
		return usageError{fmt.Sprintf("unknown command %q", cmd)}
	}
	fmt.Fprintf(cli.Stdout, "usage:\n%s\n%s", b.String(), usage[strings.Index(usage, "Configuration comes"):])
	return nil
}
