package main

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/driver/pgdriver"
)

// seed fills users with n rows in one SQL statement (generate_series), every row with the same
// bcrypt hash of benchPassword. The counter triggers stay on: they are statement-level, so the
// insert updates user_counts once. Row 1 is an active admin, the rest active users, so every
// seeded account can log in.
func seed(ctx context.Context, dsn string, n int, hash string) (time.Duration, error) {
	db := bun.NewDB(sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(dsn), pgdriver.WithTimeout(10*time.Minute))), pgdialect.New())
	defer db.Close()
	var have int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM users").Scan(&have); err != nil {
		return 0, err
	}
	if have >= n {
		return 0, nil
	}
	start := time.Now()
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		for _, q := range []string{
			fmt.Sprintf(`INSERT INTO users (email, password_hash, status, role, created_at)
			 SELECT 'user' || g || '@bench.test', '%s', 'active',
			        CASE WHEN g <= 1 THEN 'admin' ELSE 'user' END,
			        timestamptz '2026-01-01' + g * interval '1 millisecond'
			   FROM generate_series(%d, %d) AS g`, hash, have+1, n),
			"ANALYZE users",
		} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("%.40s…: %w", q, err)
			}
		}
		return nil
	})
	return time.Since(start), err
}

// cursorAt returns the keyset cursor of the row at depth, encoded as routes encodes it.
func cursorAt(ctx context.Context, dsn string, depth int) (string, error) {
	db := sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(dsn)))
	defer db.Close()
	var c struct {
		T  time.Time `json:"t"`
		ID uuid.UUID `json:"id"`
	}
	err := db.QueryRowContext(ctx, "SELECT created_at, id FROM users ORDER BY created_at, id OFFSET $1 LIMIT 1", depth).Scan(&c.T, &c.ID)
	if err != nil {
		return "", err
	}
	c.T = c.T.UTC()
	raw, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(raw), nil
}
