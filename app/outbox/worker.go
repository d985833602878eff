// Package outbox is the delivery worker of the service's outboxes (mail, webhooks): one
// mechanism for both. It claims due rows of a models.Outbox with SKIP LOCKED under a lease,
// hands each to a Handler, and records the outcome under the claim's fence: sent, retried
// after an exponential backoff with jitter, or given up after MaxAttempts; with metrics.
package outbox

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/example/authapi/models"
)

// ErrNothingToSend is what a Handler returns for a message there is nothing to send for (an
// address with no account): the row is deleted and counted as skipped.
var ErrNothingToSend = errors.New("nothing to send")

// Handler delivers one claimed message. Deliver returns nil once the message is delivered,
// ErrNothingToSend to drop it, or the failure of this attempt; Permanent says whether a failure
// will never succeed (no retry).
type Handler interface {
	Deliver(ctx context.Context, m *models.OutboxMessage) error
	Permanent(err error) bool
}

// Options configure a worker.
type Options struct {
	// Name names the worker in logs ("mail", "webhook"): "mail delivery failed; will retry".
	Name         string
	PollInterval time.Duration
	BatchSize    int
	MaxAttempts  int
	RetryBase    time.Duration
	RetryMax     time.Duration
	// Lease hides a claimed batch from other workers: long enough to deliver all of it. A
	// batch claimed by a process that died is retried once its lease has run out.
	Lease time.Duration
}

// pruneEvery and keepFor bound the outbox tables: rows done with are deleted after keepFor,
// checked every pruneEvery by each replica (the deletes are idempotent).
const (
	pruneEvery = time.Hour
	keepFor    = 7 * 24 * time.Hour
)

// Worker drains one outbox. Delivery is at least once: a message is delivered again only if
// the process dies (or its database write fails) between the delivery and the row's update.
type Worker struct {
	outbox  *models.Outbox
	handler Handler
	opts    Options
	metrics *Metrics
	logger  *slog.Logger

	wake chan struct{}
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	started bool
	stopped bool
}

// NewWorker returns a stopped worker.
func NewWorker(outbox *models.Outbox, handler Handler, opts Options, metrics *Metrics, logger *slog.Logger) *Worker {
	return &Worker{
		outbox: outbox, handler: handler, opts: opts, metrics: metrics, logger: logger.With("worker", opts.Name),
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
}

// Start runs the worker in the background; it does nothing after Stop or a first Start.
func (w *Worker) Start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started || w.stopped {
		return
	}
	w.started = true
	go w.run()
}

// Stop lets the message being delivered finish (bounded by the handler's own timeout), hands
// the rest of the claimed batch back, and returns once the worker has ended. It is safe to
// call more than once.
func (w *Worker) Stop() {
	w.mu.Lock()
	if !w.stopped {
		w.stopped = true
		close(w.stop)
	}
	started := w.started
	w.mu.Unlock()
	if started {
		<-w.done
	}
}

// Notify wakes the worker now: a message was just queued by this process.
func (w *Worker) Notify() {
	select {
	case w.wake <- struct{}{}:
	default: // a wake-up is pending already
	}
}

func (w *Worker) stopping() bool {
	select {
	case <-w.stop:
		return true
	default:
		return false
	}
}

func (w *Worker) run() {
	defer close(w.done)
	// Not cancelled by Stop: a delivery in flight finishes (or hits its timeout) rather than
	// being cut off halfway, which would only make a duplicate more likely.
	ctx := context.Background()
	var lastPrune time.Time
	errWait := w.opts.PollInterval
	failing := false
	for {
		claimed, err := w.drain(ctx)
		wait := w.opts.PollInterval
		switch {
		case err != nil:
			// Postgres is down or slow: back off, and say so once per outage, not per poll.
			if !failing {
				w.logger.Warn("delivery worker cannot read the outbox; retrying", "err", err)
			}
			failing = true
			wait, errWait = errWait, min(errWait*2, 30*time.Second)
		default:
			if failing {
				w.logger.Info("delivery worker reads the outbox again")
			}
			failing, errWait = false, w.opts.PollInterval
			if claimed == w.opts.BatchSize {
				wait = 0 // more may be due
			}
			w.sample(ctx)
			if time.Since(lastPrune) > pruneEvery {
				lastPrune = time.Now()
				if n, err := w.outbox.Prune(ctx, keepFor); err != nil {
					w.logger.Warn("outbox prune failed", "err", err)
				} else if n > 0 {
					w.logger.Info("outbox pruned", "rows", n)
				}
			}
		}
		timer := time.NewTimer(wait)
		select {
		case <-w.stop:
			timer.Stop()
			return
		case <-w.wake:
			timer.Stop()
		case <-timer.C:
		}
	}
}

// sample refreshes the queued gauge.
func (w *Worker) sample(ctx context.Context) {
	if n, err := w.outbox.Pending(ctx); err == nil {
		w.metrics.queued.Set(float64(n))
	}
}

// drain claims one batch and works through it; it returns how many messages it claimed.
func (w *Worker) drain(ctx context.Context) (int, error) {
	msgs, err := w.outbox.Claim(ctx, w.opts.BatchSize, w.opts.Lease)
	if err != nil {
		return 0, err
	}
	for i := range msgs {
		if w.stopping() {
			for j := i; j < len(msgs); j++ {
				if err := w.outbox.Release(ctx, &msgs[j]); err != nil {
					w.logger.Warn("delivery worker could not hand back a claimed message; it is retried after its lease", "id", msgs[j].ID, "err", err)
				}
			}
			break
		}
		w.deliver(ctx, &msgs[i])
	}
	return len(msgs), nil
}

// deliver works on one claimed message.
func (w *Worker) deliver(ctx context.Context, m *models.OutboxMessage) {
	kind := string(m.Kind)
	err := w.handler.Deliver(ctx, m)
	if errors.Is(err, ErrNothingToSend) {
		if err := w.outbox.Drop(ctx, m); err != nil {
			w.logger.Warn("delivery worker could not drop a message with nothing to send", "id", m.ID, "err", err)
			return
		}
		w.metrics.skipped.WithLabelValues(kind).Inc()
		return
	}
	if err != nil {
		w.failed(ctx, m, err)
		return
	}
	ok, err := w.outbox.Sent(ctx, m)
	switch {
	case err != nil:
		w.logger.Error("delivered but not recorded: it will be delivered again after its lease", "id", m.ID, "kind", kind, "err", err)
	case !ok:
		w.logger.Warn("delivered after its claim was lost: another worker may deliver it too", "id", m.ID, "kind", kind)
	}
	w.metrics.sent.WithLabelValues(kind).Inc()
	w.metrics.latency.WithLabelValues(kind).Observe(time.Since(m.CreatedAt).Seconds())
}

// failed records a failed attempt: a retry after a backoff, or the end (failed status) once
// MaxAttempts is reached or the failure is permanent. The log line names the message by id;
// the error comes from the delivery or the database and never holds the message body.
func (w *Worker) failed(ctx context.Context, m *models.OutboxMessage, cause error) {
	kind := string(m.Kind)
	text := cause.Error()
	if len(text) > 500 {
		text = text[:500]
	}
	if m.Attempts >= w.opts.MaxAttempts || w.handler.Permanent(cause) {
		if _, err := w.outbox.Fail(ctx, m, text); err != nil {
			w.logger.Warn("delivery worker could not mark a message failed", "id", m.ID, "err", err)
		}
		w.metrics.failed.WithLabelValues(kind).Inc()
		w.logger.Error(w.opts.Name+" delivery failed; giving up", "id", m.ID, "kind", kind, "attempts", m.Attempts, "err", text)
		return
	}
	wait := w.backoff(m.Attempts)
	if _, err := w.outbox.Retry(ctx, m, wait, text); err != nil {
		w.logger.Warn("delivery worker could not schedule a retry; it is retried after its lease", "id", m.ID, "err", err)
	}
	w.metrics.retried.WithLabelValues(kind).Inc()
	w.logger.Warn(w.opts.Name+" delivery failed; will retry", "id", m.ID, "kind", kind, "attempt", m.Attempts, "retry_in", wait, "err", text)
}

// backoff is RetryBase doubled per failed attempt, capped at RetryMax, with ±10% jitter so
// that replicas retrying after one outage do not all knock at once.
func (w *Worker) backoff(attempts int) time.Duration {
	d := w.opts.RetryBase
	for i := 1; i < attempts && d < w.opts.RetryMax; i++ {
		d *= 2
	}
	d = min(d, max(w.opts.RetryMax, w.opts.RetryBase))
	jitter := time.Duration(rand.Int64N(int64(d)/5+1)) - d/10 //nolint:gosec // spreads retries; guards nothing
	return d + jitter
}
