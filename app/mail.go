package app

import (
	"fmt"

	"github.com/example/authapi/app/mail"
	"github.com/example/authapi/app/outbox"
	"github.com/example/authapi/config"
	"github.com/example/authapi/models"
)

// newMailWorker builds the outbox's delivery worker: SMTP when SMTP_URL is set, else (config
// has checked MAIL_LOG_LINKS=true) the log sender of development. It does not start it.
func (a *App) newMailWorker() (*outbox.Worker, error) {
	cfg := a.cfg.Mail
	templates, err := mail.NewTemplates(cfg.PublicBaseURL)
	if err != nil {
		return nil, fmt.Errorf("mail templates: %w", err)
	}
	if problem := cfg.MailSenderProblem(); problem != "" {
		return nil, fmt.Errorf("%w: %s", config.ErrInvalid, problem)
	}
	var sender mail.Sender
	if cfg.SMTPURL == "" {
		a.logger.Warn("SMTP_URL is not set and MAIL_LOG_LINKS=true: account mail is not sent, each message's link is logged instead (development only)")
		sender = mail.LogSender{Logger: a.logger}
	} else if sender, err = mail.NewSMTPSender(cfg.SMTPURL, cfg.From, mail.SMTPOptions{PlainText: cfg.SMTPTLS == "none"}); err != nil {
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
		ChangeTTL:    cfg.EmailChangeTTL,
	}, mail.NewMetrics(a.registry), a.logger), nil
}
