package models

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"
)

// planSQL decides every staged row's fate in one pass and keeps it in import_plan:
//   - a row whose id appeared on an earlier row of the input fails (only a file can do that);
//   - a row whose id is already in users is skipped: imported before, so a second run is a no-op;
//   - of rows whose emails are equal once normalised (the old table's uniqueness was
//     case-sensitive), the oldest (created_at, then id) is imported and the others fail;
//   - a row whose email belongs to another account here fails;
//   - the rest (reason NULL, skip false) are the candidates.
//
// Nested subqueries rather than CTEs: a CTE used twice is written out to disk, and the
// planner's row estimate after filtering one is tiny, which turns the joins with users into a
// million index probes each instead of two hash joins. Emails are grouped in the "C" collation:
// only equality matters there, and it sorts several times faster than a linguistic one.
const planSQL = `CREATE TEMP TABLE import_plan ON COMMIT DROP AS
SELECT g.pos, g.id, g.email, g.password_hash, g.created_at, g.status,
       g.id_rank = 1 AND here.id IS NOT NULL AS skip,
       CASE
         WHEN g.id_rank > 1 THEN 'duplicate id: row ' || g.id_first || ' has the same id'
         WHEN here.id IS NOT NULL THEN NULL
         WHEN g.winner <> g.id THEN 'email equals, ignoring case, that of ' || g.winner || ', which is older and imported instead'
         WHEN taken.id IS NOT NULL THEN 'email already exists (another account here)'
       END AS reason
  FROM (
	SELECT f.*,
	       -- A repeated id (id_rank > 1) sorts last, so it never wins an email.
	       first_value(f.id) OVER (PARTITION BY f.email COLLATE "C" ORDER BY f.id_rank > 1, f.created_at, f.id) AS winner
	  FROM (
		SELECT r.*, row_number() OVER w AS id_rank, first_value(r.pos) OVER w AS id_first
		  FROM import_rows r
		WINDOW w AS (PARTITION BY r.id ORDER BY r.pos)
	  ) f
  ) g
  LEFT JOIN users here ON here.id = g.id
  LEFT JOIN users taken ON lower(taken.email) = g.email`

type importPlan struct {
	candidates, skipped, failed int64
}

// planImport builds import_plan, reports its failed rows in input order and counts the rest.
func planImport(ctx context.Context, tx bun.Tx, obs ImportObserver) (importPlan, error) {
	var p importPlan
	// Temporary tables are never analysed by autovacuum: without statistics the planner
	// guesses a tiny table and may pick nested loops over a million rows.
	for _, q := range []string{"ANALYZE import_rows", planSQL} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return p, fmt.Errorf("import: plan: %w", err)
		}
	}
	rows, err := tx.QueryContext(ctx, "SELECT pos, id::text, reason FROM import_plan WHERE reason IS NOT NULL ORDER BY pos")
	if err != nil {
		return p, fmt.Errorf("import: plan: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var f ImportFailure
		if err := rows.Scan(&f.Pos, &f.ID, &f.Reason); err != nil {
			return p, fmt.Errorf("import: plan: %w", err)
		}
		p.failed++
		obs.failed(f)
	}
	if err := rows.Err(); err != nil {
		return p, fmt.Errorf("import: plan: %w", err)
	}
	err = tx.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE reason IS NULL AND NOT skip), count(*) FILTER (WHERE skip)
		FROM import_plan`).Scan(&p.candidates, &p.skipped)
	if err != nil {
		return p, fmt.Errorf("import: plan: %w", err)
	}
	return p, nil
}

// insertPlanned inserts the candidates in one statement. ON CONFLICT DO NOTHING covers what
// changed since the plan: a user who registered one of these emails meanwhile (the candidate
// fails, reported here) or the same row imported by a concurrent run (skipped). It returns the
// rows inserted and the rows lost to such a registration.
func insertPlanned(ctx context.Context, tx bun.Tx, candidates int64, obs ImportObserver) (inserted, lost int64, err error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO users (id, email, password_hash, status, role, created_at)
		SELECT id, email, password_hash, status, 'user', created_at
		  FROM import_plan
		 WHERE reason IS NULL AND NOT skip
		ON CONFLICT DO NOTHING`)
	if err != nil {
		return 0, 0, fmt.Errorf("import: insert: %w", dbError(err))
	}
	inserted, _ = res.RowsAffected()
	if inserted == candidates {
		return inserted, 0, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT pos, id::text FROM import_plan p
		WHERE reason IS NULL AND NOT skip AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = p.id)
		ORDER BY pos`)
	if err != nil {
		return 0, 0, fmt.Errorf("import: insert: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		f := ImportFailure{Reason: "email already exists (registered here during the import)"}
		if err := rows.Scan(&f.Pos, &f.ID); err != nil {
			return 0, 0, fmt.Errorf("import: insert: %w", err)
		}
		lost++
		obs.failed(f)
	}
	return inserted, lost, rows.Err()
}
