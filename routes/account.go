package routes

import (
	"context"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/example/authapi/middleware"
	"github.com/example/authapi/models"
)

// Account serves the account lifecycle under /auth: verification, password reset and change.
type Account struct {
	Users    models.UserStore
	Accounts *models.AccountStore
	Sessions *models.Sessions
	Hasher   *models.Hasher
	// Limiter is the failed-login limiter: a wrong current password on change is a failed login.
	Limiter *models.LoginLimiter
	// Requests limits resend and forgot per email and per client address.
	Requests *models.MailRequestLimiter
	// MailQueued wakes this process's delivery worker after a message was queued.
	MailQueued func()
	Events     AuthEvents
	ClientAddr func(*fiber.Ctx) string
}

// RegisterAccount mounts the lifecycle routes. All but change are open; change needs a live
// token (JWT, then the Redis whitelist) before its body is looked at.
func RegisterAccount(r fiber.Router, h *Account, auth Authn) {
	g := r.Group("/auth")
	g.Post("/verify", middleware.RequireJSON(), h.verify)
	g.Post("/verify/resend", middleware.RequireJSON(), h.resend)
	g.Post("/password/forgot", middleware.RequireJSON(), h.forgot)
	g.Post("/password/reset", middleware.RequireJSON(), h.reset)
	g.Post("/password/change", auth.JWT, auth.Whitelist, middleware.RequireJSON(), h.change)
}

// verify handles POST /auth/verify {"token"}: 200 with the user, now active (a suspended user
// stays suspended); an unknown, used or expired token is a 400.
func (h *Account) verify(c *fiber.Ctx) error {
	// The raw body, never c.Body(): that one inflates any Content-Encoding without a limit.
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
		h.Events("verify", "invalid_token")
		return err
	}
	// Verifying ends every session opened before it, in the same transaction: whoever registered
	// the address before its owner proved it keeps nothing (account pre-hijacking).
	var user *models.User
	ev := auditEvent(c, h.ClientAddr, models.EventUserVerified, nil)
	err = h.Sessions.EndAllWith(c.UserContext(), uuid.Nil, models.EndVerified, ev, func(ctx context.Context, db bun.IDB) (uuid.UUID, error) {
		var err error
		user, err = h.Accounts.VerifyIn(ctx, db, hash)
		if err != nil {
			return uuid.Nil, err
		}
		return user.ID, nil
	})
	if err != nil {
		if models.ErrorCode(err) == models.CodeValidation {
			h.Events("verify", "invalid_token")
		}
		return err
	}
	h.Events("verify", "success")
	return c.JSON(newUserJSON(user))
}

// resend handles POST /auth/verify/resend {"email"}: 202 whatever the address; a message goes
// out only to a pending account.
func (h *Account) resend(c *fiber.Ctx) error { return h.requestMail(c, "resend", models.MailVerify) }

// forgot handles POST /auth/password/forgot {"email"}: 202 whatever the address; a reset
// message goes out only to an existing account.
func (h *Account) forgot(c *fiber.Ctx) error { return h.requestMail(c, "forgot", models.MailReset) }

type acceptedJSON struct {
	Status string `json:"status"`
}

// requestMail is resend and forgot. Whether an account uses the address is never looked up
// here: every valid request runs the same two Redis counters and the same one-row insert, so
// the answer and its timing are the same for every address, and the delivery worker decides
// later whether anything is sent.
func (h *Account) requestMail(c *fiber.Ctx, route string, kind models.MailKind) error {
	// The raw body, never c.Body(): that one inflates any Content-Encoding without a limit.
	in, err := decodeFields(c.Request().Body(), "email")
	if err != nil {
		return err
	}
	raw, err := required("email", in["email"])
	if err != nil {
		return err
	}
	email := models.NormalizeEmail(raw)
	if err := models.ValidateEmail(email); err != nil {
		return err
	}
	ctx := c.UserContext()
	if err := h.Requests.Allow(ctx, route, email, h.ClientAddr(c)); err != nil {
		if models.ErrorCode(err) == models.CodeRateLimited {
			h.Events(route, "rate_limited")
		}
		return err
	}
	var ev *models.Event
	if kind == models.MailReset {
		ev = auditEvent(c, h.ClientAddr, models.EventPasswordResetRequest, nil)
	}
	if err := h.Accounts.RequestMail(ctx, kind, email, ev); err != nil {
		return err
	}
	h.MailQueued()
	h.Events(route, "accepted")
	return c.Status(fiber.StatusAccepted).JSON(acceptedJSON{Status: "accepted"})
}

// reset handles POST /auth/password/reset {"token","password"}: 204; the password follows the
// register rules, every token of the user is revoked, and every reset token of the user dies.
// A suspension stays.
func (h *Account) reset(c *fiber.Ctx) error {
	// The raw body, never c.Body(): that one inflates any Content-Encoding without a limit.
	in, err := decodeFields(c.Request().Body(), "token", "password")
	if err != nil {
		return err
	}
	token, err := required("token", in["token"])
	if err != nil {
		return err
	}
	password, err := required("password", in["password"])
	if err != nil {
		return err
	}
	hash, err := models.HashMailToken(token)
	if err != nil {
		h.Events("password_reset", "invalid_token")
		return err
	}
	if err := models.ValidatePassword(password); err != nil {
		return err // the token is not spent: the user can try another password
	}
	ctx := c.UserContext()
	userID, err := h.Accounts.ResetTokenUser(ctx, hash)
	if err != nil {
		if models.ErrorCode(err) == models.CodeValidation {
			h.Events("password_reset", "invalid_token")
		}
		return err
	}
	newHash, err := h.Hasher.Hash(ctx, password)
	if err != nil {
		return err
	}
	// The new hash and the end of every session commit together; a login that checked the old
	// password meanwhile finds another hash when it opens its session, and gets none.
	ev := auditEvent(c, h.ClientAddr, models.EventPasswordReset, nil)
	err = h.Sessions.EndAllWith(ctx, uuid.Nil, models.EndReset, ev, func(ctx context.Context, db bun.IDB) (uuid.UUID, error) {
		if _, err := h.Accounts.ResetPasswordIn(ctx, db, hash, newHash); err != nil {
			return uuid.Nil, err
		}
		return userID, nil
	})
	if err != nil {
		return err
	}
	h.Events("password_reset", "success")
	return c.SendStatus(fiber.StatusNoContent)
}

// change handles POST /auth/password/change {"current_password","new_password"}: 204; every
// other token of the user is revoked, the one used stays valid. A wrong current password is a
// 401 and counts as a failed login, under the login limits.
func (h *Account) change(c *fiber.Ctx) error {
	p := middleware.PrincipalOf(c)
	// The raw body, never c.Body(): that one inflates any Content-Encoding without a limit.
	in, err := decodeFields(c.Request().Body(), "current_password", "new_password")
	if err != nil {
		return err
	}
	current, err := required("current_password", in["current_password"])
	if err != nil {
		return err
	}
	password, err := required("new_password", in["new_password"])
	if err != nil {
		return err
	}
	if err := models.ValidatePassword(password); err != nil {
		return err
	}
	ctx := c.UserContext()
	user, err := h.Users.ByID(ctx, p.UserID)
	if err != nil {
		if models.ErrorCode(err) == models.CodeNotFound {
			return models.Errorf(models.CodeUnauthorized, "user no longer exists")
		}
		return err
	}
	attempt, err := h.Limiter.Reserve(ctx, user.Email, h.ClientAddr(c))
	if err != nil {
		if models.ErrorCode(err) == models.CodeRateLimited {
			h.Events("password_change", "rate_limited")
		}
		return err
	}
	ok, err := h.Hasher.Verify(ctx, &user.PasswordHash, current)
	if err != nil {
		_ = attempt.Cancel(ctx)
		return err
	}
	if !ok {
		// Reserve has counted this failure already, on the login counters.
		h.Events("password_change", "invalid_credentials")
		// It counts as a failed login, and is recorded as one.
		ev := auditEvent(c, h.ClientAddr, models.EventLoginFailed, map[string]any{"reason": models.LoginFailedBadPassword, "via": "password_change"})
		ev.UserID = &user.ID
		if err := h.Sessions.Events().Write(ctx, *ev); err != nil {
			return err
		}
		return models.Errorf(models.CodeUnauthorized, "current password is incorrect")
	}
	// The right password is not a login: the count goes back, the other counters stay.
	_ = attempt.Cancel(ctx)
	newHash, err := h.Hasher.Hash(ctx, password)
	if err != nil {
		return err
	}
	// Every session but the caller's ends with the change, in one transaction.
	keep, err := uuid.Parse(p.SessionID)
	if err != nil {
		return models.Errorf(models.CodeUnauthorized, "invalid token")
	}
	ev := auditEvent(c, h.ClientAddr, models.EventPasswordChanged, nil)
	err = h.Sessions.EndAllWith(ctx, keep, models.EndPassword, ev, func(ctx context.Context, db bun.IDB) (uuid.UUID, error) {
		return user.ID, h.Accounts.SetPasswordIn(ctx, db, user.ID, user.PasswordHash, newHash)
	})
	if err != nil {
		return err
	}
	h.Events("password_change", "success")
	return c.SendStatus(fiber.StatusNoContent)
}
