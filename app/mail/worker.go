package mail

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/example/authapi/app/outbox"
	"github.com/example/authapi/models"
)

// Options configure the delivery of mail (see the MAIL_* settings).
type Options struct {
	PollInterval time.Duration
	BatchSize    int
	MaxAttempts  int
	RetryBase    time.Duration
	RetryMax     time.Duration
	SendTimeout  time.Duration
	VerifyTTL    time.Duration
	ResetTTL     time.Duration
	ChangeTTL    time.Duration
}

// UserLookup finds the account a message is for.
type UserLookup interface {
	ByEmail(ctx context.Context, email string) (*models.User, error)
	ByID(ctx context.Context, id uuid.UUID) (*models.User, error)
}

// NewWorker returns the stopped delivery worker of the mail outbox: the shared outbox
// mechanism (app/outbox) with the mail Handler.
func NewWorker(box *models.Outbox, users UserLookup, sender Sender, templates *Templates, opts Options, metrics *outbox.Metrics, logger *slog.Logger) *outbox.Worker {
	return outbox.NewWorker(box, &Handler{box: box, users: users, sender: sender, templates: templates, opts: opts, logger: logger}, outbox.Options{
		Name: "mail", PollInterval: opts.PollInterval, BatchSize: opts.BatchSize, MaxAttempts: opts.MaxAttempts,
		RetryBase: opts.RetryBase, RetryMax: opts.RetryMax,
		// Long enough for every message of the batch to be sent one after the other.
		Lease: opts.SendTimeout*time.Duration(opts.BatchSize) + time.Minute,
	}, metrics, logger)
}

// Handler delivers one claimed mail message: it finds the account, mints the message's token,
// renders and sends it.
type Handler struct {
	box       *models.Outbox
	users     UserLookup
	sender    Sender
	templates *Templates
	opts      Options
	logger    *slog.Logger
}

// Permanent reports an SMTP refusal that will never succeed.
func (h *Handler) Permanent(err error) bool { return IsPermanent(err) }

// Deliver sends m. Nobody to write to (an unknown address for forgot or resend, or an account
// that is no longer pending for verify) is outbox.ErrNothingToSend.
func (h *Handler) Deliver(ctx context.Context, m *models.OutboxMessage) error {
	if m.Kind == models.MailEmailChange || m.Kind == models.MailEmailNotice {
		return h.deliverChange(ctx, m)
	}
	user, err := h.users.ByEmail(ctx, m.Recipient)
	if models.ErrorCode(err) == models.CodeNotFound || (err == nil && m.Kind == models.MailVerify && user.Status != models.StatusPendingVerification) {
		return outbox.ErrNothingToSend
	}
	if err != nil {
		return err
	}
	ttl := h.opts.VerifyTTL
	if m.Kind == models.MailReset {
		ttl = h.opts.ResetTTL
	}
	// The token is minted now, not when the message was queued: its only copy lives in this
	// function and the message, never in the outbox, and its lifetime starts at delivery.
	token, hash, err := h.box.MintToken(ctx, user.ID, m.Kind, ttl)
	if err != nil {
		return err
	}
	return h.sendTokened(ctx, m, user.Email, token, hash, ttl)
}

// sendTokened renders and sends the message of kind m.Kind to recipient with its freshly
// minted token; if it is not delivered, as far as we know, the token is deleted: it must not
// outlive the attempt.
func (h *Handler) sendTokened(ctx context.Context, m *models.OutboxMessage, recipient, token string, hash []byte, ttl time.Duration) error {
	msg, err := h.templates.Render(m.Kind, recipient, token, ttl)
	if err == nil {
		err = h.send(ctx, msg)
	}
	if err != nil {
		if delErr := h.box.DeleteToken(ctx, hash); delErr != nil {
			h.logger.Warn("mail worker could not delete the token of an undelivered message; it expires on its own", "id", m.ID, "err", delErr)
		}
		return err
	}
	return nil
}

// send sends msg within SendTimeout.
func (h *Handler) send(ctx context.Context, msg Message) error {
	ctx, cancel := context.WithTimeout(ctx, h.opts.SendTimeout)
	defer cancel()
	return h.sender.Send(ctx, msg)
}

// deliverChange sends an email change's messages: the confirmation to the new address, with a
// token that keeps the new address and the session that asked, and the notice to the old one.
// An account deleted meanwhile gets nothing.
func (h *Handler) deliverChange(ctx context.Context, m *models.OutboxMessage) error {
	user, err := h.users.ByID(ctx, m.UserID)
	if models.ErrorCode(err) == models.CodeNotFound || m.UserID == uuid.Nil {
		return outbox.ErrNothingToSend
	}
	if err != nil {
		return err
	}
	if m.Kind == models.MailEmailNotice {
		msg, err := h.templates.Render(m.Kind, m.Recipient, "", 0)
		if err != nil {
			return err
		}
		return h.send(ctx, msg)
	}
	token, hash, err := h.box.MintChangeToken(ctx, user.ID, m.Recipient, m.SessionID, h.opts.ChangeTTL)
	if err != nil {
		return err
	}
	return h.sendTokened(ctx, m, m.Recipient, token, hash, h.opts.ChangeTTL)
}
