package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/uptrace/bun"

	"github.com/example/authapi/config"
	"github.com/example/authapi/models"
)

// reconcileWindow is how far back revocations are redone on a Redis node that lost data: the
// life of an access token, and the leeway on clocks.
func reconcileWindow(cfg config.Config) time.Duration { return cfg.JWT.Expiry() + time.Minute }

// newReconciler returns the reconciler whose OnConnect every Redis connection of the process
// runs (models.Reconciler), logging each reconciliation.
func newReconciler(cfg config.Config, db *bun.DB, logger *slog.Logger) *models.Reconciler {
	return models.NewReconciler(db, reconcileWindow(cfg), func(identity string, deleted int, took time.Duration, err error) {
		if err != nil {
			logger.Error("redis node not reconciled: its connections are refused until it is", "node", identity, "err", err)
			return
		}
		logger.Info("redis node reconciled with the revocations in postgres", "node", identity, "deleted", deleted, "took", took)
	})
}

// openReconciledRedis opens Redis with every connection reconciled first.
func openReconciledRedis(cfg config.Config, db *bun.DB, logger *slog.Logger) (redis.UniversalClient, *models.Reconciler, error) {
	reconciler := newReconciler(cfg, db, logger)
	rdb, err := OpenRedis(cfg.Redis, reconciler.OnConnect)
	return rdb, reconciler, err
}

// NewSessions returns the sessions service of cfg over db and tokens.
func NewSessions(cfg config.Config, db *bun.DB, tokens *models.TokenStore) *models.Sessions {
	issuer := models.NewIssuer(models.IssuerOptions{
		Secret: cfg.JWT.Secret, Key: firstKey(signingKeys(cfg.JWT)), Issuer: cfg.JWT.Issuer, Expiry: cfg.JWT.Expiry(),
	}, time.Now)
	return models.NewSessions(db, tokens, issuer, models.SessionOptions{
		AccessTTL:     cfg.JWT.Expiry(),
		IdleTimeout:   cfg.Sessions.IdleTimeout,
		MaxAge:        cfg.Sessions.MaxAge,
		ReuseInterval: cfg.Sessions.ReuseInterval,
		MaxPerUser:    cfg.Sessions.MaxPerUser,
	}, cfg.DB.QueryTimeout, time.Now, NewEventWriter(cfg, db))
}

// NewEventWriter returns the audit trail's writer of cfg over db: events go to the events table
// and, with WEBHOOK_URL and WEBHOOK_SECRET set, the types of WEBHOOK_EVENTS (all when empty)
// to the webhook outbox in the same statement.
func NewEventWriter(cfg config.Config, db *bun.DB) *models.EventWriter {
	return models.NewEventWriter(db, cfg.DB.QueryTimeout, webhookFilter(cfg.Webhook), time.Now)
}

// webhookFilter is the set of event types delivered: nil when webhooks are off. Unknown names
// in WEBHOOK_EVENTS are refused by checkWebhookEvents before the service starts.
func webhookFilter(w config.Webhook) models.WebhookFilter {
	if !w.Enabled() {
		return nil
	}
	if len(w.Events) == 0 {
		return func(models.EventType) bool { return true }
	}
	want := make(map[models.EventType]bool, len(w.Events))
	for _, t := range w.Events {
		want[models.EventType(t)] = true
	}
	return func(t models.EventType) bool { return want[t] }
}

// checkWebhookEvents refuses a WEBHOOK_EVENTS entry that names no event type.
func checkWebhookEvents(w config.Webhook) error {
	for _, t := range w.Events {
		if _, err := models.ParseEventType(t); err != nil {
			return fmt.Errorf("%w: WEBHOOK_EVENTS: %q is not an event type", config.ErrInvalid, t)
		}
	}
	return nil
}

// sweepInterval is how often recent revocations are deleted from Redis again (Reconciler.Sweep).
const sweepInterval = 5 * time.Second

// pruneEvery is how often ended sessions are deleted, a bounded batch at a time.
const pruneEvery = 5 * time.Minute

// sweepRevocations runs Reconciler.Sweep every sweepInterval, and Prune every pruneEvery,
// until ctx ends.
func (a *App) sweepRevocations(ctx context.Context) {
	ticker := time.NewTicker(sweepInterval)
	defer ticker.Stop()
	var lastPrune time.Time
	for {
		if time.Since(lastPrune) > pruneEvery {
			lastPrune = time.Now()
			func() {
				ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				if _, err := a.reconciler.Prune(ctx, a.cfg.Sessions.IdleTimeout, 10000); err != nil {
					a.logger.Warn("pruning ended sessions failed; retried", "err", err)
				}
			}()
		}
		func() {
			ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if n, err := a.reconciler.Sweep(ctx, a.rdb); err != nil {
				a.logger.Warn("revocation sweep failed; retried", "err", err)
			} else if n > 0 {
				a.logger.Warn("revocation sweep deleted live keys of revoked sessions", "deleted", n)
			}
		}()
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// exportPage is how many events one read of an export takes: the export holds at most one page
// in memory, however long the account's history.
const exportPage = 500

// streamEvents emits the user's audit events, newest first, a keyset page at a time.
func (a *App) streamEvents(ctx context.Context, userID uuid.UUID, emit func([]byte) error) error {
	var cursor *models.Cursor
	for {
		page, err := a.events.List(ctx, models.EventFilter{UserID: userID}, cursor, exportPage)
		if err != nil {
			return err
		}
		for i := range page.Events {
			raw, err := json.Marshal(&page.Events[i])
			if err != nil {
				return err
			}
			if err := emit(raw); err != nil {
				return err
			}
		}
		if page.Next == nil {
			return nil
		}
		cursor = page.Next
	}
}
