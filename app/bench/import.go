package main

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/uptrace/bun"
	"golang.org/x/crypto/bcrypt"

	"github.com/example/authapi/app"
	"github.com/example/authapi/config"
	"github.com/example/authapi/migrations"
)

// importBench is the bulk-write scenario: how one INSERT … SELECT scales with its rows now that
// the counters are statement-level, and `authapi users import` of a million old rows.
type importBench struct {
	Bulk       []bulkPoint
	Rows       int
	Time       time.Duration
	PeakRSSMiB float64
	Summary    string // the import's last line
	Exact      string
}

type bulkPoint struct {
	Rows  int
	Time  time.Duration
	Exact bool
}

func (p bulkPoint) rate() float64 { return float64(p.Rows) / p.Time.Seconds() }

// runImportBench uses three scratch databases next to o.db's: one for the bulk inserts, the old
// service's, and the import's target. rows is the size of the old table (1,000,000 by default).
func runImportBench(ctx context.Context, o options, rows int, hash string) (importBench, error) {
	r := importBench{Rows: rows}
	bulkURL, err := scratchDB(ctx, o.db, "authapi_bench_bulk")
	if err != nil {
		return r, err
	}
	bulk, err := migrated(ctx, bulkURL)
	if err != nil {
		return r, err
	}
	defer bulk.Close()
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		step(fmt.Sprintf("bulk insert %d", n))
		if _, err := bulk.ExecContext(ctx, "TRUNCATE users"); err != nil {
			return r, err
		}
		t0 := time.Now()
		_, err := bulk.ExecContext(ctx, `INSERT INTO users (email, password_hash, status)
			SELECT 'bulk' || g || '@bench.test', 'x', (ARRAY['active', 'active', 'suspended', 'pending_verification'])[1 + g % 4]
			  FROM generate_series(1, ?) AS g`, n)
		if err != nil {
			return r, fmt.Errorf("bulk insert %d: %w", n, err)
		}
		p := bulkPoint{Rows: n, Time: time.Since(t0)}
		verdict, err := countsExact(ctx, bulk)
		if err != nil {
			return r, err
		}
		p.Exact = strings.HasPrefix(verdict, "exact")
		r.Bulk = append(r.Bulk, p)
	}

	step(fmt.Sprintf("old service's table, %d rows", rows))
	oldURL, err := scratchDB(ctx, o.db, "authapi_bench_old")
	if err != nil {
		return r, err
	}
	old := app.OpenDB(config.DB{URL: oldURL, MaxConnections: 1, QueryTimeout: 30 * time.Minute})
	defer old.Close()
	// The old service's migration: email unique as written, an index on lower(email).
	for _, q := range []string{
		`CREATE TABLE users (id uuid PRIMARY KEY, email text NOT NULL UNIQUE, password_hash text NOT NULL,
		   created_at timestamptz NOT NULL DEFAULT now(), status text NOT NULL)`,
		`CREATE INDEX users_email_lower_idx ON users (lower(email))`,
		fmt.Sprintf(`INSERT INTO users SELECT gen_random_uuid(), 'Old' || g || '@bench.test', '%s',
		   timestamptz '2020-01-01' + g * interval '1 second', (ARRAY['active', 'active', 'pending', 'suspended'])[1 + g %% 4]
		   FROM generate_series(1, %d) AS g`, "$2b$"+hash[4:], rows),
	} {
		if _, err := old.ExecContext(ctx, q); err != nil {
			return r, fmt.Errorf("old table: %w", err)
		}
	}

	step(fmt.Sprintf("users import of %d rows", rows))
	targetURL, err := scratchDB(ctx, o.db, "authapi_bench_import")
	if err != nil {
		return r, err
	}
	target, err := migrated(ctx, targetURL)
	if err != nil {
		return r, err
	}
	defer target.Close()
	cmd := exec.CommandContext(ctx, o.bin, "users", "import", "--from-postgres", oldURL)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+targetURL, "REDIS_URL="+o.redis, "JWT_SECRET="+newBenchSecret())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		return r, fmt.Errorf("users import: %w\n%s", err, stderr.String())
	}
	r.Time = time.Since(t0)
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.PeakRSSMiB = float64(ru.Maxrss) / 1024 // kilobytes on Linux
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	r.Summary = lines[len(lines)-1]
	r.Exact, err = countsExact(ctx, target)
	return r, err
}

// scratchDB (re)creates database name on the server of dsn and returns its URL.
func scratchDB(ctx context.Context, dsn, name string) (string, error) {
	admin := app.OpenDB(config.DB{URL: dsn, MaxConnections: 1, QueryTimeout: time.Minute})
	defer admin.Close()
	for _, q := range []string{"DROP DATABASE IF EXISTS " + name + " WITH (FORCE)", "CREATE DATABASE " + name} {
		if _, err := admin.ExecContext(ctx, q); err != nil {
			return "", fmt.Errorf("%s: %w", q, err)
		}
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

func migrated(ctx context.Context, dsn string) (*bun.DB, error) {
	db := app.OpenDB(config.DB{URL: dsn, MaxConnections: 2, QueryTimeout: 30 * time.Minute})
	if _, err := migrations.Up(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// countsExact compares the counters with a full count.
func countsExact(ctx context.Context, db *bun.DB) (string, error) {
	var counters, table [4]int64
	err := db.QueryRowContext(ctx, `SELECT coalesce(sum(n), 0), coalesce(sum(n) FILTER (WHERE status = 'active'), 0),
		coalesce(sum(n) FILTER (WHERE status = 'suspended'), 0), coalesce(sum(n) FILTER (WHERE status = 'pending_verification'), 0)
		FROM user_counts`).Scan(&counters[0], &counters[1], &counters[2], &counters[3])
	if err != nil {
		return "", err
	}
	err = db.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE status = 'active'),
		count(*) FILTER (WHERE status = 'suspended'), count(*) FILTER (WHERE status = 'pending_verification') FROM users`).
		Scan(&table[0], &table[1], &table[2], &table[3])
	if err != nil {
		return "", err
	}
	v := "exact"
	if counters != table {
		v = "NOT exact"
	}
	return fmt.Sprintf("%s: counters total/active/suspended/pending %v, count(*) %v", v, counters, table), nil
}

// write adds the scenario's section to a report.
func (r importBench) write(w func(format string, a ...any)) {
	w("## Bulk writes and `users import`")
	w("")
	w("| target | goal | figure | verdict |")
	w("|---|---|---|---|")
	for _, p := range r.Bulk {
		w("| one INSERT … SELECT of %d users | linear, counts exact | %s, %.0f rows/s, counts %s | %s |", p.Rows, p.Time.Round(time.Millisecond), p.rate(),
			map[bool]string{true: "exact", false: "NOT exact"}[p.Exact], verdict(p.Exact))
	}
	if len(r.Bulk) == 3 {
		w("| rows/s at 1M vs 10k | ≥ 0.5 (linear) | %.2f | %s |", r.Bulk[2].rate()/r.Bulk[0].rate(), verdict(r.Bulk[2].rate()/r.Bulk[0].rate() >= 0.5))
	}
	w("| `users import --from-postgres` of %d old rows | < 60 s | %s (%s) | %s |", r.Rows, r.Time.Round(100*time.Millisecond), r.Summary, verdict(r.Time < time.Minute))
	w("| its peak RSS (getrusage maxrss) | < 150 MB | %.1f MiB | %s |", r.PeakRSSMiB, verdict(r.PeakRSSMiB < 150))
	w("| /users/stats source after the import | exact | %s | %s |", r.Exact, verdict(strings.HasPrefix(r.Exact, "exact")))
	w("")
}

// printImportBench runs only this scenario (`-import-only`) and prints its section.
func printImportBench(ctx context.Context, o options) error {
	hash, err := bcrypt.GenerateFromPassword([]byte(benchPassword), 4)
	if err != nil {
		return err
	}
	r, err := runImportBench(ctx, o, o.importRows, string(hash))
	if err != nil {
		return err
	}
	fmt.Printf("- Machine: %s\n\n", machine())
	r.write(func(format string, a ...any) { fmt.Printf(format+"\n", a...) })
	return nil
}
