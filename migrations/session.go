package migrations

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// ErrNoSession says the migration lock cannot be held because the connection is not a session of
// its own: a PgBouncer in transaction pooling mode hands each statement to any server
// connection, so a session advisory lock would be taken on one and left behind on it.
var ErrNoSession = errors.New("migrations need a session of their own, but DATABASE_URL looks like a PgBouncer in transaction pooling mode (statements of one connection run on different server sessions): set MIGRATE_DATABASE_URL to a direct Postgres URL (or a session-mode pool)")

// checkSession tells a real session from a transaction-pooled one before any lock is taken
// (a lock taken through such a pool could not be released). conn asks for its backend's pid;
// a second connection then pins a server connection with an open transaction (PgBouncer hands
// out its most recently freed server first, i.e. conn's); conn asks again. In a real session
// both answers are the same pid and the other connection has another one.
func checkSession(ctx context.Context, db *bun.DB, conn bun.Conn) error {
	var first, probe, second int
	if err := conn.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&first); err != nil {
		return fmt.Errorf("migration lock connection: %w", err)
	}
	// A pool of one connection cannot lend a second: then only conn's two answers are compared.
	probeCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if other, err := db.Conn(probeCtx); err == nil {
		defer other.Close()
		tx, err := other.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migration lock probe: %w", err)
		}
		defer func() { _ = tx.Rollback() }()
		if err := tx.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&probe); err != nil {
			return fmt.Errorf("migration lock probe: %w", err)
		}
	}
	if err := conn.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&second); err != nil {
		return fmt.Errorf("migration lock connection: %w", err)
	}
	if first != second || probe == first {
		return ErrNoSession
	}
	return nil
}
