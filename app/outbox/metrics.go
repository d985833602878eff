package outbox

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are a worker's collectors, named after its outbox (mail_queued, webhook_sent_total,
// …). Labels are message kinds (mail kinds, event types), never addresses.
type Metrics struct {
	queued  prometheus.Gauge
	sent    *prometheus.CounterVec
	failed  *prometheus.CounterVec
	retried *prometheus.CounterVec
	skipped *prometheus.CounterVec
	latency *prometheus.HistogramVec
}

// MetricsHelp words the help texts of one outbox's metrics.
type MetricsHelp struct {
	Queued, Sent, Failed, Retried, Skipped, Latency string
}

// NewMetrics creates the collectors of the outbox named prefix and registers them on reg;
// every series of kinds exists from the start, at zero, so alerts on rate() see the first event.
func NewMetrics(reg prometheus.Registerer, prefix string, help MetricsHelp, kinds []string) *Metrics {
	m := &Metrics{
		queued:  prometheus.NewGauge(prometheus.GaugeOpts{Name: prefix + "_queued", Help: help.Queued}),
		sent:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: prefix + "_sent_total", Help: help.Sent}, []string{"kind"}),
		failed:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: prefix + "_failed_total", Help: help.Failed}, []string{"kind"}),
		retried: prometheus.NewCounterVec(prometheus.CounterOpts{Name: prefix + "_retries_total", Help: help.Retried}, []string{"kind"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: prefix + "_skipped_total", Help: help.Skipped}, []string{"kind"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: prefix + "_delivery_seconds", Help: help.Latency,
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600},
		}, []string{"kind"}),
	}
	reg.MustRegister(m.queued, m.sent, m.failed, m.retried, m.skipped, m.latency)
	for _, kind := range kinds {
		m.sent.WithLabelValues(kind)
		m.failed.WithLabelValues(kind)
		m.retried.WithLabelValues(kind)
		m.skipped.WithLabelValues(kind)
	}
	return m
}
