package app_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/example/authapi/app"
	"github.com/example/authapi/app/apptest"
	"github.com/example/authapi/config"
	"github.com/example/authapi/migrations"
	"github.com/example/authapi/models"
)

// runCLI runs the binary's CLI in process with the given environment and returns its exit
// status and output.
func runCLI(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	code := app.CLI{Stdout: &out, Stderr: &out, Version: "test"}.Main(context.Background(), args)
	return code, out.String()
}

// TestCLI uses the process environment (t.Setenv), so it does not run in parallel.
func TestCLI(t *testing.T) {
	dbURL := apptest.MustCreateDatabase(t)
	t.Setenv("DATABASE_URL", dbURL)
	t.Setenv("REDIS_URL", apptest.RedisURL(t))
	t.Setenv("JWT_SECRET", apptest.Secret)

	t.Run("MigrateUpStatusDownUp", func(t *testing.T) {
		all, err := migrations.New()
		if err != nil {
			t.Fatal(err)
		}
		n := len(all.Sorted())
		if code, out := runCLI(t, "migrate", "status"); code != 0 || !strings.Contains(out, fmt.Sprintf("0 applied, %d pending", n)) {
			t.Fatalf("status before: %d %s", code, out)
		}
		if code, out := runCLI(t, "migrate", "up"); code != 0 || !strings.Contains(out, "migrate up") {
			t.Fatalf("up: %d %s", code, out)
		}
		if code, out := runCLI(t, "migrate", "up"); code != 0 || !strings.Contains(out, "nothing to do") {
			t.Fatalf("up again: %d %s", code, out)
		}
		if code, out := runCLI(t, "migrate", "down"); code != 0 || !strings.Contains(out, "migrate down") {
			t.Fatalf("down: %d %s", code, out)
		}
		if code, out := runCLI(t, "migrate", "up"); code != 0 {
			t.Fatalf("up after down: %d %s", code, out)
		}
		if code, out := runCLI(t, "migrate", "status"); code != 0 || !strings.Contains(out, fmt.Sprintf("%d applied, 0 pending", n)) {
			t.Fatalf("status after: %d %s", code, out)
		}
	})

	// A user to administer, made through the store on the migrated database.
	cfg := apptest.Config(t, dbURL, nil)
	svc := apptest.OpenHandles(t, cfg)
	email := randomEmail()
	if err := svc.Users.Create(context.Background(), &models.User{Email: email, PasswordHash: "x", Status: models.StatusActive, Role: models.RoleUser}); err != nil {
		t.Fatal(err)
	}
	// A live token of that user in the whitelist, to see suspension revoke it.
	userID := mustUser(t, svc.Users, email).ID.String()
	sessionKey := models.SessionKey(svc.MintSession(t, userID).SessionID.String())

	t.Run("Promote", func(t *testing.T) {
		code, out := runCLI(t, "users", "promote", strings.ToUpper(email), "--role", "admin")
		if code != 0 || mustUser(t, svc.Users, email).Role != models.RoleAdmin || !strings.Contains(out, "role=admin") {
			t.Fatalf("%d %s", code, out)
		}
	})
	t.Run("SuspendRevokesTokens", func(t *testing.T) {
		code, out := runCLI(t, "users", "suspend", email, "--reason", "abuse", "--until", "2099-01-01T00:00:00Z")
		u := mustUser(t, svc.Users, email)
		if code != 0 || u.Status != models.StatusSuspended || *u.SuspensionReason != "abuse" || u.SuspendedUntil.Year() != 2099 {
			t.Fatalf("%d %s %+v", code, out, u)
		}
		if n, _ := svc.Redis.Exists(context.Background(), sessionKey).Result(); n != 0 || !strings.Contains(out, "revoked every token (1 session(s))") {
			t.Fatalf("token still live after suspension: %s", out)
		}
	})
	t.Run("Activate", func(t *testing.T) {
		code, out := runCLI(t, "users", "activate", email)
		if u := mustUser(t, svc.Users, email); code != 0 || u.Status != models.StatusActive || u.SuspensionReason != nil {
			t.Fatalf("%d %s %+v", code, out, u)
		}
	})
	t.Run("MFAReset", func(t *testing.T) {
		ctx := context.Background()
		grant := svc.MintSession(t, userID)
		for _, q := range []string{
			"UPDATE users SET mfa_enabled = true WHERE id = ?",
			"INSERT INTO mfa_factors (user_id, secret, key_id, confirmed_at) VALUES (?, '\\x00', 'k', now())",
			"INSERT INTO mfa_recovery_codes (user_id, code_hash, key_id) VALUES (?, sha256('x'), 'k')",
		} {
			if _, err := svc.DB.ExecContext(ctx, q, userID); err != nil {
				t.Fatal(err)
			}
		}
		code, out := runCLI(t, "users", "mfa-reset", email)
		var enabled bool
		var factors, codes int
		_ = svc.DB.QueryRowContext(ctx, "SELECT mfa_enabled, (SELECT count(*) FROM mfa_factors WHERE user_id = ?), (SELECT count(*) FROM mfa_recovery_codes WHERE user_id = ?) FROM users WHERE id = ?", userID, userID, userID).Scan(&enabled, &factors, &codes)
		live, _ := svc.Redis.Exists(ctx, models.SessionKey(grant.SessionID.String())).Result()
		if code != 0 || enabled || factors != 0 || codes != 0 || live != 0 || !strings.Contains(out, "mfa-reset") {
			t.Fatalf("exit %d (%s): mfa_enabled %v, %d factors, %d codes, session live %d", code, out, enabled, factors, codes, live)
		}
	})
	t.Run("ErrUnknownEmail", func(t *testing.T) {
		if code, out := runCLI(t, "users", "activate", "nobody@example.com"); code != app.ExitFailed || !strings.Contains(out, "nobody@example.com") {
			t.Fatalf("%d %s", code, out)
		}
	})
	t.Run("ErrUsage", func(t *testing.T) {
		for _, args := range [][]string{
			{"users", "promote", email, "--role", "root"},
			{"users", "suspend", email, "--until", "tomorrow"},
			{"users", "frobnicate", email},
			{"users"},
			{"migrate"},
			{"migrate", "sideways"},
			{"nonsense"},
		} {
			if code, out := runCLI(t, args...); code != app.ExitUsage {
				t.Fatalf("%v: exit %d, want 2: %s", args, code, out)
			}
		}
	})
	t.Run("ErrConfig", func(t *testing.T) {
		t.Setenv("JWT_SECRET", "too-short")
		code, out := runCLI(t, "serve")
		if code != app.ExitUsage || !strings.Contains(out, "JWT_SECRET") || strings.Contains(out, "too-short") {
			t.Fatalf("%d %s", code, out)
		}
	})
	// The contract's "Tokens": a published or plainly non-random secret stops the process with
	// status 2 and a message that names the rule, never the value.
	t.Run("ErrKnownSecret", func(t *testing.T) {
		for value, reason := range map[string]string{
			"change-me-to-at-least-32-random-bytes-0000": "a published example",
			"change-me-openssl-rand-base64-48":           "a placeholder",
			"secret-for-my-service-in-production-1":      "a placeholder",
			strings.Repeat("a", 64):                      "plainly not random",
		} {
			t.Setenv("JWT_SECRET", value)
			code, out := runCLI(t, "serve")
			if code != app.ExitUsage || !strings.Contains(out, "JWT_SECRET: is "+reason) || strings.Contains(out, value) {
				t.Fatalf("JWT_SECRET %q: exit %d, output %q; want 2 naming %q without the value", value, code, out, reason)
			}
		}
	})
	t.Run("ErrDatabaseUnreachable", func(t *testing.T) {
		t.Setenv("DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:1/x?sslmode=disable")
		if code, out := runCLI(t, "users", "activate", email); code != app.ExitFailed {
			t.Fatalf("%d %s", code, out)
		}
	})
}

// unsetConfig clears every setting and CONFIG_FILE for the test: the CLI as a newcomer runs it.
func unsetConfig(t *testing.T) {
	t.Helper()
	t.Setenv("CONFIG_FILE", "")
	for _, s := range config.Settings {
		t.Setenv(s.Name, "") // empty is "not set" to the service
	}
}

// TestCLIHelpWithoutConfiguration: every command's --help answers with no configuration at all
// (no JWT_SECRET, no URLs), exit 0, on stdout. Uses the process environment: not parallel.
func TestCLIHelpWithoutConfiguration(t *testing.T) {
	unsetConfig(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--help"}, "users promote EMAIL --role admin|user"},
		{[]string{"-h"}, "healthcheck"},
		{[]string{"help"}, "migrate up|down|status"},
		{[]string{"help", "users"}, "users promote EMAIL"},
		{[]string{"users", "--help"}, "users promote EMAIL --role admin|user"},
		{[]string{"users", "promote", "--help"}, "users promote EMAIL --role admin|user"},
		{[]string{"users", "import", "-h"}, "users import --from-postgres URL"},
		{[]string{"migrate", "--help"}, "migrate up|down|status|create NAME"},
		{[]string{"migrate", "up", "--help"}, "migrate up|down|status|create NAME"},
		{[]string{"serve", "--help"}, "run the service"},
		{[]string{"healthcheck", "--help"}, "ask the admin /readyz"},
		{[]string{"version", "--help"}, "print the version"},
	} {
		var stdout, stderr bytes.Buffer
		code := app.CLI{Stdout: &stdout, Stderr: &stderr, Version: "test"}.Main(context.Background(), tc.args)
		if code != app.ExitOK || !strings.Contains(stdout.String(), tc.want) || stderr.Len() != 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 0 and usage naming %q", tc.args, code, stdout.String(), stderr.String(), tc.want)
		}
	}
	if code, out := runCLI(t, "frobnicate", "--help"); code != app.ExitUsage || !strings.Contains(out, `unknown command "frobnicate"`) {
		t.Errorf("frobnicate --help: exit %d, %s", code, out)
	}
}

// TestCLIRedisURLUnset: a users command that may revoke tokens, with DATABASE_URL but no Redis
// set, says so in one line with exit 2 rather than revoking in whatever Redis runs on localhost.
func TestCLIRedisURLUnset(t *testing.T) {
	unsetConfig(t)
	t.Setenv("DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:1/x?sslmode=disable")
	t.Setenv("JWT_SECRET", apptest.Secret)
	for _, args := range [][]string{
		{"users", "promote", "ada@example.com", "--role", "user"},
		{"users", "suspend", "ada@example.com"},
		{"users", "activate", "ada@example.com"},
	} {
		code, out := runCLI(t, args...)
		if code != app.ExitUsage || !strings.Contains(out, "REDIS_URL is not set") || strings.Count(strings.TrimSpace(out), "\n") != 0 {
			t.Errorf("%v: exit %d, output %q; want 2 and one line saying REDIS_URL is not set", args, code, out)
		}
	}
}

// TestCLIDatabaseURLUnset: a database command with no DATABASE_URL says so in one line with
// exit 2, before anything else (even a missing JWT_SECRET), and never tries localhost:5432.
func TestCLIDatabaseURLUnset(t *testing.T) {
	unsetConfig(t)
	for _, withSecret := range []bool{false, true} {
		if withSecret {
			t.Setenv("JWT_SECRET", apptest.Secret)
		}
		for _, args := range [][]string{
			{"users", "promote", "ada@example.com", "--role", "admin"},
			{"users", "activate", "ada@example.com"},
			{"users", "import", "--file", "-"},
			{"migrate", "up"},
			{"migrate", "status"},
		} {
			code, out := runCLI(t, args...)
			if code != app.ExitUsage || !strings.Contains(out, "DATABASE_URL is not set") || strings.Count(strings.TrimSpace(out), "\n") != 0 ||
				strings.Contains(out, "5432") || strings.Contains(out, "pgdriver") {
				t.Errorf("%v (JWT_SECRET set: %v): exit %d, output %q; want 2 and one line saying DATABASE_URL is not set", args, withSecret, code, out)
			}
		}
	}
}

func mustUser(t *testing.T, users *models.BunUserStore, email string) *models.User {
	t.Helper()
	u, err := users.ByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
