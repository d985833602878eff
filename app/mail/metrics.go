package mail

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/authapi/models"
)

// Metrics are the delivery worker's collectors. Labels are message kinds, never addresses.
type Metrics struct {
	queued  prometheus.Gauge
	sent    *prometheus.CounterVec
	failed  *prometheus.CounterVec
	retried *prometheus.CounterVec
	skipped *prometheus.CounterVec
	latency *prometheus.HistogramVec
}

// NewMetrics creates the collectors and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		queued: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mail_queued",
			Help: "Messages in the outbox waiting for delivery, across all replicas (sampled by the worker).",
		}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mail_sent_total",
			Help: "Messages delivered (taken by the SMTP server, or logged when SMTP_URL is unset), by kind.",
		}, []string{"kind"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mail_failed_total",
			Help: "Messages given up on (MAIL_MAX_ATTEMPTS reached, or refused for good), by kind.",
		}, []string{"kind"}),
		retried: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mail_retries_total",
			Help: "Failed delivery attempts that will be retried, by kind.",
		}, []string{"kind"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mail_skipped_total",
			Help: "Requested messages with nothing to send (no such account, or not pending for verify), by kind.",
		}, []string{"kind"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mail_delivery_seconds",
			Help:    "Time from a message's queueing to its delivery, by kind.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600},
		}, []string{"kind"}),
	}
	reg.MustRegister(m.queued, m.sent, m.failed, m.retried, m.skipped, m.latency)
	// Every series exists from the start, at zero, so alerts on rate() see the first event.
	for _, kind := range []models.MailKind{models.MailVerify, models.MailReset} {
		m.sent.WithLabelValues(string(kind))
		m.failed.WithLabelValues(string(kind))
		m.retried.WithLabelValues(string(kind))
		m.skipped.WithLabelValues(string(kind))
	}
	return m
}
