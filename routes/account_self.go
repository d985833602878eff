package routes

import (
	"bufio"
	"context"
	"encoding/json"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/example/authapi/middleware"
	"github.com/example/authapi/models"
)

// EventStream writes a user's audit events, oldest first, one JSON object per call of emit, and
// returns how many it wrote; nil when there is no audit trail to export.
type EventStream func(ctx context.Context, userID uuid.UUID, emit func(event []byte) error) error

// SelfService serves what users do with their own account: delete it, export it.
type SelfService struct {
	Sessions *models.Sessions
	MFA      *models.MFA
	// Users reads the caller; Reauth checks their password (a wrong one is a failed login).
	Users      models.UserStore
	Reauth     *Reauth
	Events     AuthEvents
	ClientAddr func(*fiber.Ctx) string
	// AuditEvents streams the user's events into the export (nil: none).
	AuditEvents EventStream
	// ExportTimeout bounds the streaming of one export.
	ExportTimeout time.Duration
	// Accounts queues the mail of an email change and applies its confirmation.
	Accounts *models.AccountStore
	// MailQueued wakes this process's mail delivery worker.
	MailQueued func()
}

// RegisterSelfService mounts DELETE /auth/me and GET /auth/me/export, each with its chain.
func RegisterSelfService(r fiber.Router, h *SelfService, auth Authn) {
	r.Delete("/auth/me", auth.JWT, auth.Whitelist, middleware.RequireJSON(), h.deleteMe)
	r.Get("/auth/me/export", auth.JWT, auth.Whitelist, h.export)
	r.Post("/auth/email/change", auth.JWT, auth.Whitelist, middleware.RequireJSON(), h.changeEmail)
	r.Post("/auth/email/confirm", middleware.RequireJSON(), h.confirmEmail)
}

// changeEmail handles POST /auth/email/change {"password","new_email"}: 202 for every valid new
// address, a taken one included (no enumeration; its confirmation answers 409). The
// confirmation goes to the new address and a notice to the old one, through the outbox.
func (h *SelfService) changeEmail(c *fiber.Ctx) error {
	in, err := decodeFields(c.Request().Body(), "password", "new_email")
	if err != nil {
		return err
	}
	password, err := required("password", in["password"])
	if err != nil {
		return err
	}
	raw, err := required("new_email", in["new_email"])
	if err != nil {
		return err
	}
	newEmail := models.NormalizeEmail(raw)
	if err := models.ValidateEmail(newEmail); err != nil {
		return err
	}
	p := middleware.PrincipalOf(c)
	ctx := c.UserContext()
	user, attempt, err := h.Reauth.check(c, password)
	if err != nil {
		return err
	}
	_ = attempt.Cancel(ctx)
	sid, _ := uuid.Parse(p.SessionID)
	ev := auditEvent(c, h.ClientAddr, models.EventEmailChangeRequested, nil)
	ev.UserID = &user.ID
	if err := h.Accounts.RequestEmailChange(ctx, user.ID, user.Email, newEmail, sid, ev); err != nil {
		return err
	}
	h.MailQueued()
	h.Events("email_change", "accepted")
	return c.Status(fiber.StatusAccepted).JSON(acceptedJSON{Status: "accepted"})
}

// confirmEmail handles POST /auth/email/confirm {"token"}: the user moves to the new address
// (409 if it was taken meanwhile), and every session but the one that asked ends.
func (h *SelfService) confirmEmail(c *fiber.Ctx) error {
	in, err := decodeFields(c.Request().Body(), "token")
	if err != nil {
		return err
	}
	token, err := required("token", in["token"])
	if err != nil {
		return err
	}
	hash, err := models.HashMailToken(token)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	pending, err := h.Accounts.EmailChangeOf(ctx, hash)
	if err != nil {
		return err
	}
	ev := auditEvent(c, h.ClientAddr, models.EventEmailChanged, nil)
	ev.UserID = &pending.UserID
	var user *models.User
	err = h.Sessions.EndAllWith(ctx, pending.SessionID, models.EndEmailChanged, ev, func(ctx context.Context, db bun.IDB) (uuid.UUID, error) {
		var err error
		user, err = h.Accounts.ConfirmEmailChangeIn(ctx, db, hash)
		if err != nil {
			return uuid.Nil, err
		}
		return user.ID, nil
	})
	if err != nil {
		return err
	}
	h.Events("email_change", "confirmed")
	return c.JSON(newUserJSON(user))
}

// deleteMe handles DELETE /auth/me {"password"[,"code"]}: re-authentication (the password, and a
// TOTP or recovery code when MFA is on; wrong ones are failed logins), then the account and
// everything of it removed in one transaction, its tokens refused at once.
func (h *SelfService) deleteMe(c *fiber.Ctx) error {
	in, err := decodeFields(c.Request().Body(), "password", "code")
	if err != nil {
		return err
	}
	password, err := required("password", in["password"])
	if err != nil {
		return err
	}
	p := middleware.PrincipalOf(c)
	ctx := c.UserContext()
	caller, err := h.Users.ByID(ctx, p.UserID)
	if err != nil {
		if models.ErrorCode(err) == models.CodeNotFound {
			return models.Errorf(models.CodeUnauthorized, "user no longer exists")
		}
		return err
	}
	if caller.MFAEnabled && in["code"] == nil {
		return models.Errorf(models.CodeValidation, "code is required (mfa is on)")
	}
	user, attempt, err := h.Reauth.check(c, password)
	if err != nil {
		return err
	}
	wrongCode := false
	err = h.Sessions.DeleteAccount(ctx, user.ID, auditEvent(c, h.ClientAddr, models.EventUserDeleted, nil), func(ctx context.Context, db bun.IDB) error {
		if !user.MFAEnabled {
			return nil
		}
		ok, _, err := h.MFA.CheckCode(ctx, db, user.ID, *in["code"])
		if err == nil && !ok {
			wrongCode = true
			return models.ErrInvalidCode()
		}
		return err
	})
	if err != nil {
		if !wrongCode {
			_ = attempt.Cancel(ctx)
		} else if evErr := h.Reauth.failed(c, user, models.LoginFailedMFA); evErr != nil {
			return evErr
		}
		return err
	}
	_ = attempt.Cancel(ctx)
	h.Events("account_delete", "success")
	return c.SendStatus(fiber.StatusNoContent)
}

// export handles GET /auth/me/export: {"user","sessions","events"}. The user and the sessions
// (at most MAX_SESSIONS_PER_USER) are read first, so a failure there is an ordinary error; the
// events are streamed from the database as they are written out, so an account with a long
// history costs no memory in proportion to it.
func (h *SelfService) export(c *fiber.Ctx) error {
	p := middleware.PrincipalOf(c)
	ctx := c.UserContext()
	user, err := h.Users.ByID(ctx, p.UserID)
	if err != nil {
		if models.ErrorCode(err) == models.CodeNotFound {
			return models.Errorf(models.CodeUnauthorized, "user no longer exists")
		}
		return err
	}
	list, err := h.Sessions.List(ctx, p.UserID)
	if err != nil {
		return err
	}
	head := append([]byte(`{"user":`), AppendMeJSON(nil, user)...)
	sessions, err := json.Marshal(sessionsJSON(list, p.SessionID, h.Sessions.Options().IdleTimeout))
	if err != nil {
		return err
	}
	head = append(append(append(head, `,"sessions":`...), sessions...), `,"events":[`...)
	userID, stream, timeout := p.UserID, h.AuditEvents, h.ExportTimeout
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="account-export.json"`)
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		_, _ = w.Write(head)
		if stream != nil {
			// The request's context ends with the handler; the stream gets its own deadline.
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			first := true
			_ = stream(ctx, userID, func(event []byte) error {
				if !first {
					if err := w.WriteByte(','); err != nil {
						return err
					}
				}
				first = false
				if _, err := w.Write(event); err != nil {
					return err
				}
				return w.Flush()
			})
		}
		_, _ = w.WriteString("]}")
		_ = w.Flush()
	})
	return nil
}
