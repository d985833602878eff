package mail

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/authapi/app/outbox"
	"github.com/example/authapi/models"
)

// NewMetrics creates the mail worker's collectors (mail_queued, mail_sent_total, …) and
// registers them on reg. Labels are message kinds, never addresses.
func NewMetrics(reg prometheus.Registerer) *outbox.Metrics {
	return outbox.NewMetrics(reg, "mail", outbox.MetricsHelp{
		Queued:  "Messages in the outbox waiting for delivery, across all replicas (sampled by the worker).",
		Sent:    "Messages delivered (taken by the SMTP server, or logged when SMTP_URL is unset), by kind.",
		Failed:  "Messages given up on (MAIL_MAX_ATTEMPTS reached, or refused for good), by kind.",
		Retried: "Failed delivery attempts that will be retried, by kind.",
		Skipped: "Requested messages with nothing to send (no such account, or not pending for verify), by kind.",
		Latency: "Time from a message's queueing to its delivery, by kind.",
	}, []string{string(models.MailVerify), string(models.MailReset)})
}
