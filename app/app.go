// Package app wires the service: it opens Postgres and Redis, applies migrations, builds the
// public and admin Fiber apps, and runs and stops them.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"github.com/uptrace/bun"

	"github.com/example/authapi/app/outbox"
	"github.com/example/authapi/app/webhook"
	"github.com/example/authapi/config"
	"github.com/example/authapi/middleware"
	"github.com/example/authapi/migrations"
	"github.com/example/authapi/models"
)

// healthTimeout bounds a probe's dependency checks, so a hung Postgres cannot hang a probe.
const healthTimeout = time.Second

// App is the running service.
type App struct {
	cfg    config.Config
	logger *slog.Logger

	db  *bun.DB
	rdb redis.UniversalClient

	users  *models.BunUserStore
	tokens *models.TokenStore
	// sessions opens, refreshes and ends sessions; reconciler redoes revocations on a Redis
	// node that lost data, and sweeps recent ones again.
	sessions   *models.Sessions
	mfa        *models.MFA
	reconciler *models.Reconciler
	stopSweep  context.CancelFunc
	hasher     *models.Hasher
	metrics    *middleware.Metrics
	// accounts holds the account lifecycle's writes; mailer delivers its outbox.
	accounts *models.AccountStore
	mailer   *outbox.Worker
	// events reads the audit trail and keeps it within AUDIT_RETENTION; webhooks (nil when
	// WEBHOOK_URL is unset) delivers its events.
	events   *models.EventStore
	webhooks *outbox.Worker

	registry *prometheus.Registry
	eviction *evictionWatch
	public   *fiber.App
	admin    *fiber.App

	// prepareMu makes Prepare run once at a time, so the mail worker starts once.
	prepareMu    sync.Mutex
	schemaReady  atomic.Bool
	shuttingDown atomic.Bool
}

// New builds the service from cfg. It opens the pools without connecting, so it succeeds while
// Postgres or Redis are down; Run waits for them.
//
// opts are for tests (WithClock).
func New(cfg config.Config, logger *slog.Logger, opts ...Option) (*App, error) {
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if err := checkWebhookEvents(cfg.Webhook); err != nil {
		return nil, err
	}
	db := OpenDB(cfg.DB)
	rdb, reconciler, err := openReconciledRedis(cfg, db, logger)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", config.ErrInvalid, err)
	}
	a := &App{cfg: cfg, logger: logger, db: db, rdb: rdb, reconciler: reconciler, registry: prometheus.NewRegistry()}
	a.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewDBStatsCollector(a.db.DB, "postgres"),
	)
	a.metrics = middleware.NewMetrics(a.registry)
	registerRedisPoolStats(a.registry, rdb)
	a.eviction = newEvictionWatch(rdb, logger, a.registry)

	nice := cfg.Limits.BcryptNice
	if nice != 0 {
		if err := models.CheckThreadPriority(nice); err != nil {
			logger.Warn("bcrypt runs at normal priority: logins will compete with other requests for CPU", "err", err)
			nice = 0
		}
	}
	a.users = models.NewBunUserStore(a.db, cfg.DB.QueryTimeout)
	a.tokens = models.NewTokenStore(rdb, cfg.Redis.Timeout)
	a.sessions = NewSessions(cfg, a.db, a.tokens)
	a.mfa = newMFA(cfg, a.db, o.now)
	a.events = models.NewEventStore(a.db, cfg.DB.QueryTimeout)
	a.accounts = models.NewAccountStore(a.db, cfg.DB.QueryTimeout).WithEvents(a.sessions.Events())
	if a.mailer, err = a.newMailWorker(); err != nil {
		return nil, err
	}
	if cfg.Webhook.Enabled() {
		w := cfg.Webhook
		a.webhooks = webhook.NewWorker(models.NewWebhookOutbox(a.db, cfg.DB.QueryTimeout), webhook.Options{
			URL: w.URL, Secret: w.Secret, PollInterval: w.PollInterval, RetryBase: w.RetryBase, RetryMax: w.RetryMax,
			MaxAttempts: w.MaxAttempts, Timeout: w.Timeout,
		}, a.registry, logger)
		a.sessions.Events().OnQueued(a.webhooks.Notify)
	}
	a.hasher = models.NewHasher(models.HasherOptions{
		Cost: cfg.Limits.BcryptCost, MaxCost: cfg.Limits.BcryptMaxCost,
		Concurrency: BcryptConcurrency(cfg.Limits), QueueTimeout: cfg.Limits.BcryptQueueTimeout,
		Nice: nice, ObserveWait: a.metrics.BcryptWait,
		OnRefused: func(cost int, err error) {
			// No user id here: the login's own log line has the request id.
			logger.Warn("stored password hash refused, login failed closed: set BCRYPT_MAX_COST higher or reset the password",
				"cost", cost, "max_cost", cfg.Limits.BcryptMaxCost, "err", err)
			a.metrics.BcryptHashRefused()
		},
	})
	a.public = a.newPublicApp()
	a.admin = a.newAdminApp()
	return a, nil
}

// Option changes how New builds the App (tests only).
type Option func(*options)

type options struct {
	// now is the clock of the second factor's time steps.
	now func() time.Time
}

// WithClock makes now the clock of TOTP steps and mfa_token expiry, so a test can move through
// 30-second steps without waiting for them.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// BcryptConcurrency is the number of bcrypt operations allowed at once: BCRYPT_CONCURRENCY, or
// by default GOMAXPROCS (which Go sets from the container's CPU limit, unlike NumCPU).
func BcryptConcurrency(limits config.Limits) int {
	if limits.BcryptConcurrency > 0 {
		return limits.BcryptConcurrency
	}
	return runtime.GOMAXPROCS(0)
}

// Public is the public Fiber app (for tests: app.Public().Test(req, -1)).
func (a *App) Public() *fiber.App { return a.public }

// Admin is the admin Fiber app.
func (a *App) Admin() *fiber.App { return a.admin }

// ready reports whether the service may take traffic.
func (a *App) ready() bool { return a.schemaReady.Load() && !a.shuttingDown.Load() }

// Run serves both listeners until ctx is cancelled (SIGTERM, SIGINT), then shuts down in order:
// readiness off, stop accepting, drain in-flight requests up to SHUTDOWN_TIMEOUT, close pools.
func (a *App) Run(ctx context.Context) error {
	errs := make(chan error, 2)
	go func() { errs <- serve(a.public, a.cfg.HTTP.Addr(), "public") }()
	go func() { errs <- serve(a.admin, a.cfg.Admin.Addr(), "admin") }()
	a.logger.Info("listening", "public", a.cfg.HTTP.Addr(), "admin", a.cfg.Admin.Addr())

	prepared := make(chan struct{})
	prepareErr := make(chan error, 1)
	prepareCtx, stopPreparing := context.WithCancel(ctx)
	defer stopPreparing()
	go func() {
		defer close(prepared)
		if err := a.prepareUntilReady(prepareCtx); err != nil {
			prepareErr <- err
		}
	}()

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errs:
	case runErr = <-prepareErr:
	}
	// Readiness goes off before anything else, so probes stop routing traffic here while the
	// preparation below is still being cancelled.
	a.shuttingDown.Store(true)
	stopPreparing()
	<-prepared
	shutdownErr := a.Shutdown()
	return errors.Join(runErr, shutdownErr)
}

func serve(app *fiber.App, addr, name string) error {
	if err := app.Listen(addr); err != nil {
		return fmt.Errorf("%s listener %s: %w", name, addr, err)
	}
	return nil
}

// prepareUntilReady calls Prepare until the service is ready, with backoff, so the service
// becomes ready on its own once its dependencies come up. A configuration error (a database
// that cannot hold the migration lock, as behind a transaction-pooling PgBouncer) will not get
// better by waiting: that is returned.
func (a *App) prepareUntilReady(ctx context.Context) error {
	// Logs a warning now if Redis may evict keys (and on /readyz, should it change later).
	go func() {
		ctx, cancel := context.WithTimeout(ctx, healthTimeout)
		defer cancel()
		a.eviction.warnings(ctx)
	}()
	backoff := 100 * time.Millisecond
	for {
		err := a.Prepare(ctx)
		if err == nil {
			return nil
		}
		if errors.Is(err, config.ErrInvalid) {
			return err
		}
		a.logger.Warn("waiting for database schema", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// Prepare makes the service ready, in one attempt: it checks that the schema is current
// (applying migrations when MIGRATE_ON_START is set) and that the hasher's dummy hash is made,
// then marks the service ready and starts the mail worker. Run calls it until it succeeds; a
// caller that serves Public and Admin itself calls it once before. Once it has succeeded it
// does nothing. An error wrapping config.ErrInvalid will not go away by retrying.
func (a *App) Prepare(ctx context.Context) error {
	a.prepareMu.Lock()
	defer a.prepareMu.Unlock()
	if a.schemaReady.Load() {
		return nil
	}
	// The dummy hash (compared against for unknown emails) and the common-password index are
	// made alongside the schema check, so the first login or registration does not pay for them.
	warmed := make(chan struct{})
	go func() {
		defer close(warmed)
		a.hasher.WarmUp()
		models.WarmCommonPasswords()
	}()
	if err := a.ensureSchema(ctx); err != nil {
		if errors.Is(err, migrations.ErrNoSession) {
			return fmt.Errorf("%w: %w", config.ErrInvalid, err)
		}
		return err
	}
	select {
	case <-warmed:
	case <-ctx.Done():
		return ctx.Err()
	}
	a.schemaReady.Store(true)
	a.logger.Info("schema ready")
	a.mailer.Start()
	if a.webhooks != nil {
		a.webhooks.Start()
	}
	sweepCtx, stop := context.WithCancel(context.Background())
	a.stopSweep = stop
	go a.sweepRevocations(sweepCtx)
	go a.maintainEvents(sweepCtx)
	return nil
}

func (a *App) ensureSchema(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if a.cfg.DB.MigrateOnStart {
		db := a.db
		if a.cfg.DB.MigrateURL != "" {
			// Two connections: the lock's session and the migrator's.
			db = OpenDB(config.DB{URL: a.cfg.DB.MigrateURL, MaxConnections: 2, QueryTimeout: a.cfg.DB.QueryTimeout})
			defer db.Close()
		}
		group, err := migrations.Up(ctx, db)
		if err != nil {
			return err
		}
		if !group.IsZero() {
			a.logger.Info("migrations applied", "group", group.String())
		}
		return nil
	}
	pending, err := migrations.Pending(ctx, a.db)
	if err != nil {
		return err
	}
	if pending > 0 {
		return fmt.Errorf("%d migrations pending and MIGRATE_ON_START=false: run `migrate up`", pending)
	}
	return nil
}

// Shutdown turns readiness off, stops both listeners, lets in-flight requests finish (bounded
// by SHUTDOWN_TIMEOUT), then closes Redis and Postgres.
func (a *App) Shutdown() error {
	a.shuttingDown.Store(true)
	a.logger.Info("shutting down", "timeout", a.cfg.HTTP.ShutdownTimeout)
	errPublic := a.public.ShutdownWithTimeout(a.cfg.HTTP.ShutdownTimeout)
	errAdmin := a.admin.ShutdownWithTimeout(time.Second)
	return errors.Join(errPublic, errAdmin, a.Close())
}

// Close stops the mail worker (it needs Postgres), then closes the pools: Redis first, then
// Postgres.
func (a *App) Close() error {
	a.mailer.Stop()
	if a.webhooks != nil {
		a.webhooks.Stop()
	}
	a.prepareMu.Lock()
	if a.stopSweep != nil {
		a.stopSweep()
	}
	a.prepareMu.Unlock()
	return errors.Join(a.rdb.Close(), a.db.Close())
}
