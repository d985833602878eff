package main

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/example/authapi/config"
	"github.com/example/authapi/models"
)

// pgxByID returns the user-by-primary-key lookup of the pgx floor: pgxpool with the service's
// pool size, one SELECT by id under the service's query timeout. pgx speaks the extended
// protocol with a per-connection statement cache (its default), so after the first call on a
// connection the statement is sent as Bind/Execute of a prepared statement, and rows are read
// in binary. It is a bench-only dependency: nothing of the service imports this file.
func pgxByID(cfg config.DB) (func(context.Context, uuid.UUID) (*models.User, error), error) {
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, err
	}
	pc.MaxConns = int32(cfg.MaxConnections)
	pc.MinConns = int32(cfg.MaxConnections)
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		return nil, err
	}
	const q = `SELECT id, email, password_hash, status, suspension_reason, suspended_until, role, created_at, mfa_enabled
		FROM users WHERE id = $1`
	return func(ctx context.Context, id uuid.UUID) (*models.User, error) {
		ctx, cancel := context.WithTimeout(ctx, cfg.QueryTimeout)
		defer cancel()
		u := new(models.User)
		var status, role string
		var until *time.Time
		err := pool.QueryRow(ctx, q, id).Scan(&u.ID, &u.Email, &u.PasswordHash, &status, &u.SuspensionReason, &until, &role, &u.CreatedAt, &u.MFAEnabled)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, models.Errorf(models.CodeNotFound, "user not found")
		}
		if err != nil {
			return nil, err
		}
		u.Status, u.Role, u.SuspendedUntil = models.Status(status), models.Role(role), until
		return u, nil
	}, nil
}
