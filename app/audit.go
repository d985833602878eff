package app

import (
	"context"
	"time"
)

// auditMaintainEvery is how often each replica runs the audit trail's maintenance: partitions
// of the coming months, then retention (models.EventStore.Maintain). Only one replica works at
// a time (a transaction advisory lock); the others find it taken and skip the round.
const auditMaintainEvery = time.Hour

// maintainEvents runs EventStore.Maintain at once, then every auditMaintainEvery, until ctx
// ends. A failed or partial run is logged; the next one carries on where it stopped.
func (a *App) maintainEvents(ctx context.Context) {
	ticker := time.NewTicker(auditMaintainEvery)
	defer ticker.Stop()
	for {
		res, err := a.events.Maintain(ctx, a.cfg.Audit.Retention, time.Now())
		switch {
		case err != nil:
			a.logger.Warn("audit maintenance failed; retried next round", "err", err)
		case res.Created > 0 || res.Dropped > 0 || res.Deleted > 0:
			a.logger.Info("audit maintenance", "partitions_created", res.Created, "months_dropped", res.Dropped, "rows_deleted", res.Deleted)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}
