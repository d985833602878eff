package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun/migrate"

	"github.com/example/authapi/config"
	"github.com/example/authapi/migrations"
)

func (cli CLI) migrate(ctx context.Context, cfg config.Config, args []string) error {
	if len(args) == 0 {
		return usageError{"migrate needs up, down, status or create NAME"}
	}
	// Migrations hold a session advisory lock: MIGRATE_DATABASE_URL, when set, bypasses PgBouncer.
	dbCfg := cfg.DB
	dbCfg.URL = dbCfg.MigrationURL()
	db := OpenDB(dbCfg)
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
		if errors.Is(err, migrations.ErrNoSession) {
			// A pool that cannot hold the lock is bad configuration, as serve says too: exit 2.
			return fmt.Errorf("%w: migrate %s: %w", config.ErrInvalid, args[0], err)
		}
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
