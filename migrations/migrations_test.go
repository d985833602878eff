package migrations_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/example/authapi/app"
	"github.com/example/authapi/app/apptest"
	"github.com/example/authapi/config"
	"github.com/example/authapi/migrations"
)

// TestConcurrentUp runs the migrator from several connections pools at once against one empty
// database, as replicas starting together do: all succeed and each migration is applied once.
func TestConcurrentUp(t *testing.T) {
	dbURL := apptest.MustCreateDatabase(t)
	const replicas = 4
	var wg sync.WaitGroup
	errs := make(chan error, replicas)
	applied := make(chan int, replicas)
	for range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db := app.OpenDB(config.DB{URL: dbURL, MaxConnections: 3, QueryTimeout: 30 * time.Second})
			defer db.Close()
			group, err := migrations.Up(context.Background(), db)
			errs <- err
			if err == nil {
				applied <- len(group.Migrations)
			}
		}()
	}
	wg.Wait()
	close(errs)
	close(applied)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent migrate: %v", err)
		}
	}
	total := 0
	for n := range applied {
		total += n
	}
	all, err := migrations.New()
	if err != nil {
		t.Fatal(err)
	}
	if total != len(all.Sorted()) {
		t.Fatalf("applied %d migrations across replicas, want each of %d exactly once", total, len(all.Sorted()))
	}
	db := app.OpenDB(config.DB{URL: dbURL, MaxConnections: 1, QueryTimeout: 30 * time.Second})
	defer db.Close()
	var rows int
	if err := db.NewSelect().TableExpr("bun_migrations").ColumnExpr("count(*)").Scan(context.Background(), &rows); err != nil || rows != total {
		t.Fatalf("bun_migrations has %d rows (%v), want %d", rows, err, total)
	}
}
