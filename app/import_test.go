package app_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"

	"github.com/example/authapi/app"
	"github.com/example/authapi/app/apptest"
	"github.com/example/authapi/config"
	"github.com/example/authapi/models"
)

// oldSchema is the old service's users table as its migration made it: email unique as
// written (case-sensitively), with an index on lower(email) for its lookups.
const oldSchema = `CREATE TABLE users (
	id            uuid PRIMARY KEY,
	email         text NOT NULL UNIQUE,
	password_hash text NOT NULL,
	created_at    timestamptz NOT NULL DEFAULT now(),
	status        text NOT NULL
);
CREATE INDEX users_email_lower_idx ON users (lower(email));`

// bcryptAs returns a bcrypt hash of password at cost with the given version prefix. Go's bcrypt
// writes $2a$; $2b$ (OpenBSD, the Rust crate the old service used) and $2y$ (crypt_blowfish)
// differ from $2a$ only in that version byte for passwords under 72 bytes (the $2b$ fix is for
// lengths that wrapped past 255, $2y$ for a sign-extension bug with 8-bit characters), so the
// same salt and digest under $2b$/$2y$ is exactly what those implementations write.
func bcryptAs(t *testing.T, prefix, password string, cost int) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		t.Fatal(err)
	}
	return prefix + string(h[4:])
}

// importCLI runs `authapi users import args…` with stdin and returns the exit status and stderr.
func importCLI(t *testing.T, stdin string, args ...string) (int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	cli := app.CLI{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errOut, Version: "test"}
	code := cli.Main(context.Background(), append([]string{"users", "import"}, args...))
	return code, errOut.String()
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// importEnv is a migrated target database with the service on it, the CLI's environment
// pointing there. It uses t.Setenv, so its tests do not run in parallel.
func importEnv(t *testing.T) (*env, string) {
	t.Helper()
	_, dbURL := apptest.MustOpenDB(t)
	t.Setenv("DATABASE_URL", dbURL)
	t.Setenv("REDIS_URL", apptest.RedisURL(t))
	t.Setenv("JWT_SECRET", apptest.Secret)
	s := apptest.NewEnv(t, apptest.Config(t, dbURL, nil), nil)
	s.Prepare(t)
	return envOf(t, s), dbURL
}

func wantStatsExact(t *testing.T, e *env, dbURL string, total int64) {
	t.Helper()
	st, err := e.users.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	db := app.OpenDB(config.DB{URL: dbURL, MaxConnections: 1, QueryTimeout: 10 * time.Second})
	defer db.Close()
	var want models.Stats
	if err := db.QueryRowContext(context.Background(), `SELECT count(*), count(*) FILTER (WHERE status = 'active'),
		count(*) FILTER (WHERE status = 'suspended'), count(*) FILTER (WHERE status = 'pending_verification') FROM users`).
		Scan(&want.Total, &want.Active, &want.Suspended, &want.Pending); err != nil {
		t.Fatal(err)
	}
	if st != want || st.Total != total {
		t.Fatalf("stats %+v, table %+v, want total %d", st, want, total)
	}
}

func TestImportFromPostgres(t *testing.T) {
	e, dbURL := importEnv(t)
	oldURL := apptest.MustCreateDatabase(t)
	old := app.OpenDB(config.DB{URL: oldURL, MaxConnections: 1, QueryTimeout: 10 * time.Second})
	defer old.Close()
	ctx := context.Background()
	if _, err := old.ExecContext(ctx, oldSchema+"; CREATE EXTENSION pgcrypto"); err != nil {
		t.Fatal(err)
	}
	// Someone already registered here with an email that an old row also has.
	taken := randomEmail()
	e.register(taken, goodPassword)

	type oldRow struct {
		name, email, hash, status, created string
		id                                 uuid.UUID
	}
	const pw = "old-passw0rd"
	rows := []*oldRow{
		{name: "b", email: "Bea@Example.com ", hash: bcryptAs(t, "$2b$", pw, 4), status: "active"},
		{name: "y", email: "yves@example.com", hash: bcryptAs(t, "$2y$", pw, 5), status: "active"},
		{name: "a", email: "ann@example.com", hash: bcryptAs(t, "$2a$", pw, 4), status: "pending"},
		// Made by another bcrypt implementation: Postgres's pgcrypto (crypt_blowfish).
		{name: "pgcrypto", email: "pg@example.com", hash: "crypt", status: "active"},
		{name: "suspended", email: "sue@example.com", hash: bcryptAs(t, "$2b$", pw, 4), status: "suspended"},
		{name: "older", email: "Dup@example.com", hash: bcryptAs(t, "$2b$", pw, 4), status: "active", created: "2020-01-01T00:00:00Z"},
		{name: "newer", email: "dup@example.com", hash: bcryptAs(t, "$2b$", pw, 4), status: "active", created: "2021-01-01T00:00:00Z"},
		{name: "bad email", email: "not-an-email", hash: bcryptAs(t, "$2b$", pw, 4), status: "active"},
		{name: "2x", email: "x@example.com", hash: bcryptAs(t, "$2x$", pw, 4), status: "active"},
		{name: "plain", email: "p@example.com", hash: "hunter2", status: "active"},
		{name: "banned", email: "ban@example.com", hash: bcryptAs(t, "$2b$", pw, 4), status: "banned"},
		{name: "taken", email: strings.ToUpper(taken), hash: bcryptAs(t, "$2b$", pw, 4), status: "active"},
	}
	for i, r := range rows {
		r.id = uuid.New()
		if r.created == "" {
			r.created = fmt.Sprintf("2024-03-%02dT10:00:00.123456Z", i+1)
		}
		hash := "'" + r.hash + "'"
		if r.hash == "crypt" {
			hash = "crypt('" + pw + "', gen_salt('bf', 4))"
		}
		if _, err := old.ExecContext(ctx, fmt.Sprintf("INSERT INTO users VALUES (?, ?, %s, ?, ?)", hash), r.id, r.email, r.created, r.status); err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
	}
	wantFailed := map[string]string{
		"newer":     "email equals, ignoring case, that of " + rows[5].id.String(),
		"bad email": "email refused: invalid email format",
		"2x":        "password hash unusable: not a bcrypt hash",
		"plain":     "password hash unusable: not a bcrypt hash",
		"banned":    `unknown status "banned"`,
		"taken":     "email already exists",
	}

	// A dry run reports everything and writes nothing.
	code, out := importCLI(t, "", "--from-postgres", oldURL, "--dry-run")
	if code != app.ExitFailed || lastLine(out) != "imported 6, skipped 0, failed 6" || !strings.Contains(out, "dry run") {
		t.Fatalf("dry run: exit %d\n%s", code, out)
	}
	wantStatsExact(t, e, dbURL, 1)

	code, out = importCLI(t, "", "--from-postgres", oldURL)
	if code != app.ExitFailed || lastLine(out) != "imported 6, skipped 0, failed 6" {
		t.Fatalf("import: exit %d\n%s", code, out)
	}
	for _, r := range rows {
		reason, fails := wantFailed[r.name]
		line := "failed " + r.id.String()
		if fails != strings.Contains(out, line) || (fails && !strings.Contains(out, line+" (row ")) {
			t.Fatalf("%s: reported %v, want %v:\n%s", r.name, !fails, fails, out)
		}
		if fails && !strings.Contains(out[strings.Index(out, line):], reason) {
			t.Fatalf("%s: want reason %q:\n%s", r.name, reason, out)
		}
	}
	wantStatsExact(t, e, dbURL, 7)

	// Kept as they were: id, created_at, the hash; status mapped.
	for _, r := range rows[:7] {
		u, err := e.users.ByID(ctx, r.id)
		if _, fails := wantFailed[r.name]; fails {
			if err == nil {
				t.Fatalf("%s imported", r.name)
			}
			continue
		}
		want, _ := time.Parse(time.RFC3339, r.created)
		if err != nil || !u.CreatedAt.Equal(want) || u.Email != strings.ToLower(strings.TrimSpace(r.email)) || u.Role != models.RoleUser {
			t.Fatalf("%s: %+v %v", r.name, u, err)
		}
		if r.hash != "crypt" && u.PasswordHash != r.hash {
			t.Fatalf("%s: hash changed", r.name)
		}
		wantStatus := map[string]models.Status{"active": models.StatusActive, "pending": models.StatusPendingVerification, "suspended": models.StatusSuspended}[r.status]
		if u.Status != wantStatus || u.SuspensionReason != nil || u.SuspendedUntil != nil {
			t.Fatalf("%s: status %s %v %v", r.name, u.Status, u.SuspensionReason, u.SuspendedUntil)
		}
	}

	// They log in with the password they had, whatever wrote their hash.
	for _, email := range []string{"bea@example.com", "yves@example.com", "pg@example.com", "dup@example.com"} {
		e.login(email, pw)
	}
	if resp := e.client.Post("/auth/login", map[string]string{"email": "bea@example.com", "password": "wrong-passw0rd"}, ""); resp.Status != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", resp.Status)
	}
	// The suspended user's password matches; the suspension answers.
	if resp := e.client.Post("/auth/login", map[string]string{"email": "sue@example.com", "password": pw}, ""); resp.Status != http.StatusForbidden {
		t.Fatalf("suspended: %d %s", resp.Status, resp.Body)
	}

	// A second run imports nothing new, and reports the same rows.
	code, out = importCLI(t, "", "--from-postgres", oldURL)
	if code != app.ExitFailed || lastLine(out) != "imported 0, skipped 6, failed 6" {
		t.Fatalf("second run: exit %d\n%s", code, out)
	}
	wantStatsExact(t, e, dbURL, 7)

	// The old service's database unreachable: exit 1, nothing written.
	code, out = importCLI(t, "", "--from-postgres", "postgres://postgres:postgres@127.0.0.1:1/x?sslmode=disable")
	if code != app.ExitFailed {
		t.Fatalf("unreachable: exit %d\n%s", code, out)
	}
}

func TestImportFile(t *testing.T) {
	e, dbURL := importEnv(t)
	const pw = "file-passw0rd"
	line := func(id, email, hash, created, status string) string {
		return fmt.Sprintf(`{"id":%q,"email":%q,"password_hash":%q,"created_at":%q,"status":%q}`, id, email, hash, created, status)
	}
	id1, id2 := uuid.NewString(), uuid.NewString()
	good := line(id1, "one@example.com", bcryptAs(t, "$2b$", pw, 4), "2023-05-01T08:00:00Z", "active") + "\n" +
		line(id2, "two@example.com", bcryptAs(t, "$2a$", pw, 4), "2023-05-02T08:00:00+02:00", "pending") + "\n"

	dupID, noField, badTime, badCost := uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()
	costly, maxCost := uuid.NewString(), uuid.NewString() // above and at BCRYPT_MAX_COST (14 by default)
	bad := line(dupID, "three@example.com", bcryptAs(t, "$2y$", pw, 4), "2023-05-03T08:00:00Z", "active") + "\n" +
		"\n" + // blank lines are ignored
		line(dupID, "four@example.com", bcryptAs(t, "$2y$", pw, 4), "2023-05-04T08:00:00Z", "active") + "\n" +
		`{"id":"` + noField + `","email":"five@example.com"}` + "\n" +
		line(badTime, "six@example.com", bcryptAs(t, "$2y$", pw, 4), "yesterday", "active") + "\n" +
		line(badCost, "seven@example.com", "$2b$03$"+strings.Repeat("a", 53), "2023-05-04T08:00:00Z", "active") + "\n" +
		"not json at all\n" +
		line("nope", "eight@example.com", bcryptAs(t, "$2b$", pw, 4), "2023-05-04T08:00:00Z", "active") + "\n" +
		line(costly, "nine@example.com", "$2b$15$"+strings.Repeat("a", 53), "2023-05-04T08:00:00Z", "active") + "\n" +
		line(maxCost, "ten@example.com", "$2b$14$"+strings.Repeat("a", 53), "2023-05-04T08:00:00Z", "active") // no final newline

	path := filepath.Join(t.TempDir(), "users.jsonl")
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out := importCLI(t, "", "--file", path)
	if code != app.ExitFailed || lastLine(out) != "imported 2, skipped 0, failed 7" {
		t.Fatalf("file: exit %d\n%s", code, out)
	}
	for _, want := range []string{
		"failed " + dupID + " (row 3): duplicate id: row 1 has the same id",
		"failed " + noField + ` (row 4): field "password_hash" missing or null`,
		"failed " + badTime + " (row 5): created_at is not an RFC 3339 timestamp",
		"failed " + badCost + ` (row 6): password hash unusable: bad cost "03"`,
		"failed (no id) (row 7): not a JSON object",
		`failed "nope" (row 8): id is not a UUID`,
		"failed " + costly + " (row 9): password hash unusable: cost 15 is above BCRYPT_MAX_COST (14)",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("want %q in:\n%s", want, out)
		}
	}
	wantStatsExact(t, e, dbURL, 2)

	// Standard input; all good: exit 0. Again: nothing new.
	if code, out := importCLI(t, good, "--file", "-"); code != app.ExitOK || lastLine(out) != "imported 2, skipped 0, failed 0" {
		t.Fatalf("stdin: exit %d\n%s", code, out)
	}
	if code, out := importCLI(t, good, "--file", "-"); code != app.ExitOK || lastLine(out) != "imported 0, skipped 2, failed 0" {
		t.Fatalf("stdin again: exit %d\n%s", code, out)
	}
	wantStatsExact(t, e, dbURL, 4)
	e.login("one@example.com", pw)
	if u, err := e.users.ByEmail(context.Background(), "two@example.com"); err != nil || u.Status != models.StatusPendingVerification ||
		!u.CreatedAt.Equal(time.Date(2023, 5, 2, 6, 0, 0, 0, time.UTC)) {
		t.Fatalf("two: %+v %v", u, err)
	}

	// Bad usage: exit 2, nothing read.
	for _, args := range [][]string{
		{},
		{"--file", path, "--from-postgres", "postgres://x"},
		{"--file", path, "extra"},
		{"--from"},
		{"--file"},
		{"--dry-run"},
	} {
		if code, out := importCLI(t, "", args...); code != app.ExitUsage {
			t.Fatalf("%v: exit %d, want 2\n%s", args, code, out)
		}
	}
	if code, _ := importCLI(t, "", "--file", filepath.Join(t.TempDir(), "missing.jsonl")); code != app.ExitFailed {
		t.Fatalf("missing file: exit %d, want 1", code)
	}
}
