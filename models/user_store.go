package models

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/driver/pgdriver"
)

// BunUserStore is the Postgres UserStore. Every call runs under its own deadline, because a
// Fiber request context is never cancelled when the client goes away.
type BunUserStore struct {
	db      bun.IDB
	timeout time.Duration
}

// In returns the store over db (a transaction), so its writes commit with the caller's others
// (an account change with its audit event).
func (s *BunUserStore) In(db bun.IDB) *BunUserStore {
	return &BunUserStore{db: db, timeout: s.timeout}
}

// NewBunUserStore returns a store over db whose calls each get at most timeout.
func NewBunUserStore(db *bun.DB, timeout time.Duration) *BunUserStore {
	return &BunUserStore{db: db, timeout: timeout}
}

// Create inserts u with its status, role and hash as given; the database fills id and created_at.
func (s *BunUserStore) Create(ctx context.Context, u *User) error {
	if err := sqlSafe(u.Email); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	_, err := s.db.NewInsert().Model(u).
		Column("email", "password_hash", "status", "role").
		Returning("id, created_at").
		Exec(ctx)
	return dbError(err)
}

// userByID is the primary-key lookup of every authenticated request, written out once: Bun's
// query builder re-derived the column list, the WHERE clause and the scan plan by reflection
// on each call. Bun still formats the argument and runs its query hooks (QueryRowContext).
const userByID = `SELECT id, email, password_hash, status, suspension_reason, suspended_until, role, created_at, mfa_enabled
	FROM users WHERE id = ?`

// ByID returns the user with id, or a CodeNotFound error.
func (s *BunUserStore) ByID(ctx context.Context, id uuid.UUID) (*User, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	u := new(User)
	err := s.db.QueryRowContext(ctx, userByID, id).
		Scan(&u.ID, &u.Email, &u.PasswordHash, &u.Status, &u.SuspensionReason, &u.SuspendedUntil, &u.Role, &u.CreatedAt, &u.MFAEnabled)
	if err != nil {
		return nil, dbError(err)
	}
	return u, nil
}

// ByEmail returns the user whose email matches case-insensitively, or a CodeNotFound error.
func (s *BunUserStore) ByEmail(ctx context.Context, email string) (*User, error) {
	if sqlSafe(email) != nil {
		return nil, Errorf(CodeNotFound, "user not found") // no stored email holds such a byte
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	u := new(User)
	// lower(email) is what the unique index covers, so this is an index lookup.
	if err := s.db.NewSelect().Model(u).Where("lower(email) = lower(?)", email).Scan(ctx); err != nil {
		return nil, dbError(err)
	}
	return u, nil
}

// EmailExists reports whether an account uses email, in any case.
func (s *BunUserStore) EmailExists(ctx context.Context, email string) (bool, error) {
	if err := sqlSafe(email); err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	exists, err := s.db.NewSelect().Model((*User)(nil)).Where("lower(email) = lower(?)", email).Exists(ctx)
	return exists, dbError(err)
}

// ListOffset returns limit users from offset in (created_at, id) order.
func (s *BunUserStore) ListOffset(ctx context.Context, offset, limit int) (Page, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var users []User
	err := s.db.NewSelect().Model(&users).
		OrderExpr("created_at ASC, id ASC").Offset(offset).Limit(limit + 1).
		Scan(ctx)
	if err != nil {
		return Page{}, dbError(err)
	}
	return pageOf(users, limit), nil
}

// ListAfter returns up to limit users after cursor in (created_at, id) order; with the
// (created_at, id) index this costs the same at any depth.
func (s *BunUserStore) ListAfter(ctx context.Context, cursor *Cursor, limit int) (Page, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var users []User
	q := s.db.NewSelect().Model(&users).OrderExpr("created_at ASC, id ASC").Limit(limit + 1)
	if cursor != nil {
		q = q.Where("(created_at, id) > (?, ?)", cursor.CreatedAt, cursor.ID)
	}
	if err := q.Scan(ctx); err != nil {
		return Page{}, dbError(err)
	}
	return pageOf(users, limit), nil
}

// pageOf trims the one extra row fetched to learn whether another page follows.
func pageOf(users []User, limit int) Page {
	if len(users) <= limit {
		return Page{Users: users}
	}
	users = users[:limit]
	last := users[len(users)-1]
	return Page{Users: users, Next: &Cursor{CreatedAt: last.CreatedAt, ID: last.ID}}
}

// Stats sums the per-status counter shards that statement triggers keep in step with the users
// table (at most 16 rows per status), so it costs the same at any table size and is exact.
func (s *BunUserStore) Stats(ctx context.Context) (Stats, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var rows []struct {
		Status Status `bun:"status"`
		N      int64  `bun:"n"`
	}
	err := s.db.NewSelect().Table("user_counts").ColumnExpr("status, sum(n)::bigint AS n").Group("status").Scan(ctx, &rows)
	if err != nil {
		return Stats{}, dbError(err)
	}
	var st Stats
	for _, r := range rows {
		switch r.Status {
		case StatusActive:
			st.Active = r.N
		case StatusSuspended:
			st.Suspended = r.N
		case StatusPendingVerification:
			st.Pending = r.N
		}
		st.Total += r.N
	}
	return st, nil
}

// SetRole changes the role of the user with email.
func (s *BunUserStore) SetRole(ctx context.Context, email string, role Role) (*User, error) {
	return s.update(ctx, email, func(q *bun.UpdateQuery) *bun.UpdateQuery {
		return q.Set("role = ?", role)
	})
}

// Suspend marks the user suspended, with an optional reason and end.
func (s *BunUserStore) Suspend(ctx context.Context, email string, reason *string, until *time.Time) (*User, error) {
	if reason != nil {
		if err := sqlSafe(*reason); err != nil {
			return nil, err
		}
	}
	return s.update(ctx, email, func(q *bun.UpdateQuery) *bun.UpdateQuery {
		return q.Set("status = ?", StatusSuspended).Set("suspension_reason = ?", reason).Set("suspended_until = ?", until)
	})
}

// Activate marks the user active and clears any suspension.
func (s *BunUserStore) Activate(ctx context.Context, email string) (*User, error) {
	return s.update(ctx, email, func(q *bun.UpdateQuery) *bun.UpdateQuery {
		return q.Set("status = ?", StatusActive).Set("suspension_reason = NULL").Set("suspended_until = NULL")
	})
}

func (s *BunUserStore) update(ctx context.Context, email string, set func(*bun.UpdateQuery) *bun.UpdateQuery) (*User, error) {
	if err := sqlSafe(email); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	u := new(User)
	q := s.db.NewUpdate().Model(u).Where("lower(email) = lower(?)", NormalizeEmail(email)).Returning("*")
	res, err := set(q).Exec(ctx)
	if err != nil {
		return nil, dbError(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, Errorf(CodeNotFound, "no user with email %q", NormalizeEmail(email))
	}
	return u, nil
}

// sqlSafe refuses a string that Bun would not send as written: Bun formats arguments into the
// SQL text and its escaping drops NUL bytes, so "victim@example.com\x00" would match the row
// without the NUL; Postgres refuses invalid UTF-8 outright. Callers validate first (emails are
// printable ASCII); this is the store's own guard, so no caller can forget it.
func sqlSafe(s string) error {
	if strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) {
		return Errorf(CodeValidation, "invalid value")
	}
	return nil
}

// Ping runs SELECT 1.
func (s *BunUserStore) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	_, err := s.db.ExecContext(ctx, "SELECT 1")
	return dbError(err)
}

// dbError translates driver errors into domain codes: no rows is not found, a unique violation
// is a conflict, a data exception (SQLSTATE class 22) is a validation error, a server-side error of the query itself is internal, and everything else
// (refused connection, reset, timeout, server shutting down) means Postgres is unavailable.
func dbError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return Errorf(CodeNotFound, "user not found")
	}
	var pgErr pgdriver.Error
	if errors.As(err, &pgErr) {
		state := pgErr.Field('C')
		switch {
		case state == "23505":
			return &Error{Code: CodeConflict, Message: "email already exists", Err: err}
		case len(state) == 5 && state[:2] == "22":
			// Data exception: a value Postgres refuses (a date out of its range, bad text for a
			// type, invalid UTF-8). Request values are validated before any query, so this is a
			// bad input that slipped through: the client's 400, never a 500.
			return &Error{Code: CodeValidation, Message: "invalid value", Err: err}
		case len(state) == 5 && (state[:2] == "08" || state[:2] == "53" || state[:2] == "57" || state[:2] == "58"):
			// connection exception, insufficient resources, operator intervention, system error
			return Unavailable("postgres", err)
		}
		return &Error{Code: CodeInternal, Message: "internal error", Err: err}
	}
	return Unavailable("postgres", err)
}
