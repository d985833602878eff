package app

import (
	"fmt"

	"github.com/example/authapi/app/mail"
	"github.com/example/authapi/app/outbox"
	"github.com/example/authapi/config"
	"github.com/example/authapi/models"
)

// newMailWorker builds the outbox's delivery worker: SMTP when SMTP_URL is set, else the log
// sender of the development default. It does not start it.
func (a *App) newMailWorker() (*outbox.Worker, error) {
	cfg := a.cfg.Mail
	templates, err := mail.NewTemplates(cfg.PublicBaseURL)
	if err != nil {
		return nil, fmt.Errorf("mail templates: %w", err)
	}
	var sender mail.Sender
	if cfg.SMTPURL == "" {
		a.logger.Warn("SMTP_URL is not set: account mail is not sent, each message's link is logged instead (development only)")
		sender = mail.LogSender{Logger: a.logger}
	} else if sender, err = mail.NewSMTPSender(cfg.SMTPURL, cfg.From, nil); err != nil {
		return nil, fmt.Errorf("%w: %w", config.ErrInvalid, err)
	}
	outbox := models.NewOutbox(a.db, a.cfg.DB.QueryTimeout)
	return mail.NewWorker(outbox, a.users, sender, templates, mail.Options{
		PollInterval: cfg.PollInterval,
		BatchSize:    cfg.BatchSize,
		MaxAttempts:  cfg.MaxAttempts,
		RetryBase:    cfg.RetryBase,
		RetryMax:     cfg.RetryMax,
		SendTimeout:  cfg.SendTimeout,
		VerifyTTL:    cfg.VerifyTTL,
		ResetTTL:     cfg.ResetTTL,
	}, mail.NewMetrics(a.registry), a.logger), nil
}
