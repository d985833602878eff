package app

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/example/authapi/models"
)

// evictionWatch checks Redis's maxmemory-policy: at start and on every /readyz. A policy other
// than noeviction is logged (once per change) and exported as redis_maxmemory_policy_warning,
// and named in /readyz; it never makes the service unready, since Redis works until memory
// runs out, and refusing traffic would not free any.
type evictionWatch struct {
	rdb    redis.UniversalClient
	logger *slog.Logger
	gauge  *prometheus.GaugeVec

	mu   sync.Mutex
	last *string // the policy logged last; nil before the first answer
}

func newEvictionWatch(rdb redis.UniversalClient, logger *slog.Logger, reg prometheus.Registerer) *evictionWatch {
	w := &evictionWatch{rdb: rdb, logger: logger, gauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "redis_maxmemory_policy_warning",
		Help: "1 when Redis's maxmemory-policy lets it evict keys (tokens, epochs, login counters), 0 when it is noeviction or cannot be read; the policy is the label.",
	}, []string{"policy"})}
	reg.MustRegister(w.gauge)
	return w
}

// warnings checks the policy and returns the /readyz warnings: none when it is noeviction,
// cannot be read (CONFIG GET refused), or Redis does not answer (the probe reports that).
func (w *evictionWatch) warnings(ctx context.Context) []string {
	policy, err := models.EvictionPolicy(ctx, w.rdb)
	if err != nil {
		return nil
	}
	w.mu.Lock()
	changed := w.last == nil || *w.last != policy
	w.last = &policy
	w.mu.Unlock()

	label, warn := policy, policy != "" && policy != models.NoEviction
	if policy == "" {
		label = "unknown"
	}
	if changed {
		w.gauge.Reset()
		value := 0.0
		if warn {
			value = 1
		}
		w.gauge.WithLabelValues(label).Set(value)
		switch {
		case warn:
			w.logger.Warn("redis maxmemory-policy is not noeviction: under memory pressure Redis will drop token epochs, whitelisted tokens and failed-login counters (logging users out, resetting brute-force limits); set maxmemory-policy noeviction", "policy", policy)
		case policy == "":
			w.logger.Info("redis refused CONFIG GET maxmemory-policy; make sure it is noeviction")
		}
	}
	if !warn {
		return nil
	}
	return []string{fmt.Sprintf("redis maxmemory-policy is %s, not noeviction: keys may be evicted", policy)}
}
