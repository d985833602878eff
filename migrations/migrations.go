// Package migrations holds the SQL schema changes, embedded in the binary, and runs them with
// Bun's migrator.
package migrations

import (
	"context"
	"embed"
	"fmt"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/migrate"
)

//go:embed *.sql
var sqlFiles embed.FS

// Dir is where `migrate create` writes new files, relative to the repository root.
const Dir = "migrations"

// advisoryLockKey serialises migrations across replicas that start together. It is an
// arbitrary constant; it only has to be the same in every instance.
const advisoryLockKey = 7_240_911_028_416

// New returns the embedded migrations.
func New() (*migrate.Migrations, error) {
	m := migrate.NewMigrations(migrate.WithMigrationsDirectory(Dir))
	if err := m.Discover(sqlFiles); err != nil {
		return nil, fmt.Errorf("discover migrations: %w", err)
	}
	return m, nil
}

// NewMigrator returns Bun's migrator over the embedded migrations, marking a migration applied
// only once it has succeeded.
func NewMigrator(db *bun.DB) (*migrate.Migrator, error) {
	m, err := New()
	if err != nil {
		return nil, err
	}
	return migrate.NewMigrator(db, m, migrate.WithMarkAppliedOnSuccess(true)), nil
}

// WithLock runs fn while holding a Postgres advisory lock on a dedicated connection, so that of
// several processes migrating at once, one works and the others wait, then find nothing to do.
// Bun's own table lock fails at once when held and outlives a crashed holder; a session
// advisory lock waits, and Postgres releases it when the connection dies.
func WithLock(ctx context.Context, db *bun.DB, fn func(ctx context.Context) error) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migration lock connection: %w", err)
	}
	defer conn.Close()
	if err := checkSession(ctx, db, conn); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(?)", advisoryLockKey); err != nil {
		return fmt.Errorf("take migration lock: %w", err)
	}
	defer func() {
		// Use a fresh context: the caller's may have expired, and the lock must go.
		_, _ = conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock(?)", advisoryLockKey)
	}()
	return fn(ctx)
}

// Up applies every pending migration under the advisory lock and returns the group applied
// (empty when there was nothing to do).
func Up(ctx context.Context, db *bun.DB) (*migrate.MigrationGroup, error) {
	return locked(ctx, db, func(ctx context.Context, m *migrate.Migrator) (*migrate.MigrationGroup, error) {
		return m.Migrate(ctx)
	})
}

// Down rolls back the last applied group under the advisory lock.
func Down(ctx context.Context, db *bun.DB) (*migrate.MigrationGroup, error) {
	return locked(ctx, db, func(ctx context.Context, m *migrate.Migrator) (*migrate.MigrationGroup, error) {
		return m.Rollback(ctx)
	})
}

// locked runs step with a migrator whose tables exist, all under the advisory lock: creating
// the tables races too when replicas start together.
func locked(ctx context.Context, db *bun.DB, step func(context.Context, *migrate.Migrator) (*migrate.MigrationGroup, error)) (*migrate.MigrationGroup, error) {
	migrator, err := NewMigrator(db)
	if err != nil {
		return nil, err
	}
	var group *migrate.MigrationGroup
	err = WithLock(ctx, db, func(ctx context.Context) error {
		if err := migrator.Init(ctx); err != nil {
			return fmt.Errorf("init migrations table: %w", err)
		}
		group, err = step(ctx, migrator)
		return err
	})
	return group, err
}

// Pending reports how many embedded migrations are not applied yet.
func Pending(ctx context.Context, db *bun.DB) (int, error) {
	migrator, err := NewMigrator(db)
	if err != nil {
		return 0, err
	}
	ms, err := migrator.MigrationsWithStatus(ctx)
	if err != nil {
		return 0, err
	}
	return len(ms.Unapplied()), nil
}
