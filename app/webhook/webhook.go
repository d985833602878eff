// Package webhook delivers audit events to one receiver, signed per the Standard Webhooks
// specification, through the shared outbox mechanism (app/outbox).
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/authapi/app/outbox"
	"github.com/example/authapi/models"
)

// Options configure the delivery (see the WEBHOOK_* settings).
type Options struct {
	URL string
	// Secret is the HMAC key: the base64-decoded part of WEBHOOK_SECRET after whsec_.
	Secret       []byte
	PollInterval time.Duration
	RetryBase    time.Duration
	RetryMax     time.Duration
	MaxAttempts  int
	Timeout      time.Duration
}

// batchSize is how many deliveries one worker claims at once.
const batchSize = 10

// NewWorker returns the stopped webhook worker. Its lease is WEBHOOK_RETRY_MAX, so a delivery
// claimed by a process that died is retried within it; each POST's timeout is cut so that a
// whole batch fits in the lease.
func NewWorker(box *models.Outbox, opts Options, reg prometheus.Registerer, logger *slog.Logger) *outbox.Worker {
	timeout := min(opts.Timeout, opts.RetryMax/(batchSize+1))
	h := &Handler{url: opts.URL, secret: opts.Secret, now: time.Now, client: &http.Client{
		Timeout: timeout,
		// A redirect is not a 2xx: the receiver's URL is configured, not discovered.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	kinds := make([]string, len(models.EventTypes))
	for i, t := range models.EventTypes {
		kinds[i] = string(t)
	}
	metrics := outbox.NewMetrics(reg, "webhook", outbox.MetricsHelp{
		Queued:  "Webhook deliveries waiting, across all replicas (sampled by the worker).",
		Sent:    "Webhook deliveries answered 2xx, by event type.",
		Failed:  "Webhook deliveries given up on (WEBHOOK_MAX_ATTEMPTS reached), by event type.",
		Retried: "Failed webhook attempts that will be retried, by event type.",
		Skipped: "Webhook deliveries dropped with nothing to send (none expected), by event type.",
		Latency: "Time from an event to its delivery, by event type.",
	}, kinds)
	return outbox.NewWorker(box, h, outbox.Options{
		Name: "webhook", PollInterval: opts.PollInterval, BatchSize: batchSize, MaxAttempts: opts.MaxAttempts,
		RetryBase: opts.RetryBase, RetryMax: opts.RetryMax, Lease: opts.RetryMax,
	}, metrics, logger)
}

// Handler POSTs one delivery.
type Handler struct {
	url    string
	secret []byte
	client *http.Client
	now    func() time.Time
}

// Sign returns the webhook-signature header value of body sent as message id at timestamp:
// v1, then the base64 HMAC-SHA256 of "id.timestamp.body" under secret.
func Sign(secret []byte, id string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	fmt.Fprintf(mac, "%s.%d.", id, timestamp)
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Permanent is false: a receiver that refuses now may be fixed; attempts end at MaxAttempts.
func (h *Handler) Permanent(error) bool { return false }

// Deliver POSTs the event's JSON with the Standard Webhooks headers: webhook-id (the event's
// id, the same on every attempt, for the receiver's deduplication), webhook-timestamp (this
// attempt, Unix seconds) and webhook-signature. Any 2xx is delivered.
func (h *Handler) Deliver(ctx context.Context, m *models.OutboxMessage) error {
	body := []byte(m.Payload)
	id := m.EventID.String()
	ts := h.now().Unix()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "authapi-webhooks")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", Sign(h.secret, id, ts, body))
	resp, err := h.client.Do(req)
	if err != nil {
		var urlErr interface{ Timeout() bool }
		if errors.As(err, &urlErr) && urlErr.Timeout() {
			return errors.New("receiver did not answer in time")
		}
		return errors.New("receiver unreachable") // the URL may hold credentials: never quoted
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("receiver answered %d", resp.StatusCode)
	}
	return nil
}
