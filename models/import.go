package models

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/driver/pgdriver"
)

// ImportRow is one user of the old service as its source holds it, every field as text.
type ImportRow struct {
	// Pos is the row's 1-based position in the source (a table row or a line of a file).
	Pos          int64
	ID           string
	Email        string
	PasswordHash string
	// CreatedAt is RFC 3339, or Postgres's ISO output ("2026-11-28 12:00:00.123456+00").
	CreatedAt string
	Status    string
	// Unreadable, when set, says why the source could not read this row (e.g. bad JSON).
	Unreadable string
}

// ImportSource yields the rows to import one at a time, and io.EOF after the last.
type ImportSource interface {
	Next() (ImportRow, error)
}

// ImportFailure is a row that was not imported, and why. ID is the row's id as given.
type ImportFailure struct {
	Pos    int64
	ID     string
	Reason string
}

// ImportObserver hears about an import while it runs; any field may be nil.
type ImportObserver struct {
	// Read receives the number of rows read so far, every ImportProgressEvery rows.
	Read func(rows int64)
	// Phase announces the next step, in words.
	Phase func(what string)
	// Failed receives every row that is not imported (duplicates, refused values), as found.
	Failed func(ImportFailure)
}

// ImportProgressEvery is how many rows pass between two Read calls.
const ImportProgressEvery = 10_000

// ImportResult counts the rows of one import: imported, skipped (the id is already here) and
// failed (reported, not imported).
type ImportResult struct {
	Imported, Skipped, Failed int64
}

// Importer copies users of the old service into the users table. It streams: rows are checked
// one at a time and copied into a temporary staging table, and everything that looks at more
// than one row (duplicates, ids and emails already here) is set-based SQL over that table, so
// the process's memory does not grow with the input.
type Importer struct {
	db      *bun.DB
	maxCost int
	events  *EventWriter
}

// WithEvents returns the importer recording a users.imported event, with the counts, in the
// import's transaction.
func (im *Importer) WithEvents(w *EventWriter) *Importer {
	c := *im
	c.events = w
	return &c
}

// NewImporter returns an Importer writing to db that accepts hashes of cost 4 to maxCost
// (BCRYPT_MAX_COST). Its queries run for as long as the import needs: give db a pool whose
// timeouts allow that.
func NewImporter(db *bun.DB, maxCost int) *Importer { return &Importer{db: db, maxCost: maxCost} }

// Run imports every row of src in one transaction. With dryRun it reports the same outcome and
// rolls back, writing nothing. An error means nothing was imported.
func (im *Importer) Run(ctx context.Context, src ImportSource, dryRun bool, obs ImportObserver) (ImportResult, error) {
	var res ImportResult
	conn, err := im.db.Conn(ctx)
	if err != nil {
		return res, Unavailable("postgres", err)
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return res, Unavailable("postgres", err)
	}
	defer func() { _ = tx.Rollback() }() // a no-op after Commit
	// The plan sorts the staged rows by id and by email, and hashes the users table: in memory
	// (a million rows take ~140 MB) rather than on disk. For this transaction only.
	if _, err := tx.ExecContext(ctx, "SET LOCAL work_mem = '256MB'"); err != nil {
		return res, fmt.Errorf("import: %w", err)
	}
	if _, err := tx.ExecContext(ctx, createStagingSQL); err != nil {
		return res, fmt.Errorf("import: create staging table: %w", err)
	}

	obs.phase("reading rows")
	failed, staged, err := stage(ctx, conn, src, obs, im.maxCost)
	if err != nil {
		return res, err
	}
	res.Failed = failed

	obs.phase(fmt.Sprintf("checking %d rows for duplicates and accounts already here", staged))
	plan, err := planImport(ctx, tx, obs)
	if err != nil {
		return res, err
	}
	res.Failed += plan.failed
	res.Skipped = plan.skipped
	if dryRun {
		res.Imported = plan.candidates
		return res, tx.Rollback()
	}

	obs.phase(fmt.Sprintf("inserting %d users", plan.candidates))
	inserted, lost, err := insertPlanned(ctx, tx, plan.candidates, obs)
	if err != nil {
		return res, err
	}
	res.Imported = inserted
	res.Failed += lost
	res.Skipped += plan.candidates - inserted - lost
	if err := im.events.Record(ctx, tx, Event{Type: EventUsersImported, Details: map[string]any{
		"imported": res.Imported, "skipped": res.Skipped, "failed": res.Failed,
	}}); err != nil {
		return ImportResult{}, fmt.Errorf("import: audit event: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return ImportResult{}, fmt.Errorf("import: commit: %w", err)
	}
	return res, nil
}

// createStagingSQL is the temporary table valid rows are copied into; it lives as long as the
// transaction, so a dry run or a failure leaves nothing behind.
const createStagingSQL = `CREATE TEMP TABLE import_rows (
	pos           bigint      NOT NULL,
	id            uuid        NOT NULL,
	email         text        NOT NULL,
	password_hash text        NOT NULL,
	created_at    timestamptz NOT NULL,
	status        text        NOT NULL
) ON COMMIT DROP`

// stage reads src, reports the rows that fail the checks that need only the row itself, and
// streams the others into import_rows with COPY. The COPY runs on conn, inside the transaction
// already open there.
func stage(ctx context.Context, conn bun.Conn, src ImportSource, obs ImportObserver, maxCost int) (failed, staged int64, err error) {
	pr, pw := io.Pipe()
	copied := make(chan error, 1)
	go func() {
		_, err := pgdriver.CopyFrom(ctx, conn, pr,
			"COPY import_rows (pos, id, email, password_hash, created_at, status) FROM STDIN")
		// If COPY stopped early, the writer below must not block on a pipe nobody reads.
		pr.CloseWithError(errors.Join(err, errors.New("import: COPY into the staging table stopped")))
		copied <- err
	}()
	abort := func(err error) (int64, int64, error) {
		pw.CloseWithError(err)
		if copyErr := <-copied; copyErr != nil && !errors.Is(copyErr, err) {
			return failed, staged, fmt.Errorf("%w (staging: %w)", err, copyErr)
		}
		return failed, staged, err
	}

	w := bufio.NewWriterSize(pw, 64<<10)
	var line []byte
	var read int64
	for {
		row, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return abort(fmt.Errorf("import: read source: %w", err))
		}
		read++
		if read%ImportProgressEvery == 0 && obs.Read != nil {
			obs.Read(read)
		}
		u, reason := CheckImportRow(row, maxCost)
		if reason != "" {
			failed++
			obs.failed(ImportFailure{Pos: row.Pos, ID: row.ID, Reason: reason})
			continue
		}
		line = appendCopyRow(line[:0], row.Pos, u)
		if _, err := w.Write(line); err != nil {
			return abort(fmt.Errorf("import: staging: %w", err))
		}
		staged++
	}
	if obs.Read != nil {
		obs.Read(read)
	}
	if err := w.Flush(); err != nil {
		return abort(fmt.Errorf("import: staging: %w", err))
	}
	_ = pw.Close()
	if err := <-copied; err != nil {
		return failed, staged, fmt.Errorf("import: COPY into the staging table: %w", err)
	}
	return failed, staged, nil
}

// appendCopyRow appends u as one line of COPY's text format. Every field has passed
// CheckImportRow, which admits no tab, newline or backslash, so none needs escaping.
func appendCopyRow(b []byte, pos int64, u User) []byte {
	b = fmt.Appendf(b, "%d\t", pos)
	b = append(b, u.ID.String()...)
	b = append(b, '\t')
	b = append(b, u.Email...)
	b = append(b, '\t')
	b = append(b, u.PasswordHash...)
	b = append(b, '\t')
	b = u.CreatedAt.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '\t')
	b = append(b, u.Status...)
	return append(b, '\n')
}

func (o ImportObserver) phase(what string) {
	if o.Phase != nil {
		o.Phase(what)
	}
}

func (o ImportObserver) failed(f ImportFailure) {
	if o.Failed != nil {
		o.Failed(f)
	}
}
