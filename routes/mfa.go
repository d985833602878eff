package routes

import (
	"context"
	"errors"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/example/authapi/middleware"
	"github.com/example/authapi/models"
)

// MFA serves the second factor under /auth/mfa.
type MFA struct {
	MFA      *models.MFA
	Sessions *models.Sessions
	// Reauth checks the password of the management routes.
	Reauth *Reauth
	// Limiter is the failed-login limiter: wrong passwords and wrong codes count as failed logins.
	Limiter    *models.LoginLimiter
	Events     AuthEvents
	ClientAddr func(*fiber.Ctx) string
}

// RegisterMFA mounts the MFA routes, each with its whole chain on its line: the management
// routes need a live token; verify, the second step of a login, is open (it takes the mfa_token).
func RegisterMFA(r fiber.Router, h *MFA, auth Authn) {
	g := r.Group("/auth/mfa")
	g.Post("/totp/setup", auth.JWT, auth.Whitelist, middleware.RequireJSON(), h.setup)
	g.Post("/totp/confirm", auth.JWT, auth.Whitelist, middleware.RequireJSON(), h.confirm)
	g.Post("/totp/disable", auth.JWT, auth.Whitelist, middleware.RequireJSON(), h.disable)
	g.Post("/recovery-codes", auth.JWT, auth.Whitelist, middleware.RequireJSON(), h.recoveryCodes)
	g.Post("/verify", middleware.RequireJSON(), h.verify)
}

// proveOwner checks the caller's password, and with code != nil a second factor too, counting
// a wrong one as a failed login (the login limits apply, so a stolen access token cannot guess
// the password or the codes). It runs then, in one transaction with the second factor's
// check (the code is spent only if then succeeds), and returns its result.
func (h *MFA) proveOwner(c *fiber.Ctx, password string, code *string, ev *models.Event, then func(ctx context.Context, db bun.IDB, user *models.User) error) error {
	p := middleware.PrincipalOf(c)
	ctx := c.UserContext()
	user, attempt, err := h.Reauth.check(c, password)
	if err != nil {
		return err
	}
	keep, err := uuid.Parse(p.SessionID)
	if err != nil {
		_ = attempt.Cancel(ctx)
		return models.Errorf(models.CodeUnauthorized, "invalid token")
	}
	wrongCode := false
	err = h.Sessions.EndAllWith(ctx, keep, models.EndMFA, ev, func(ctx context.Context, db bun.IDB) (uuid.UUID, error) {
		if code != nil {
			ok, _, err := h.MFA.CheckCode(ctx, db, user.ID, *code)
			if err != nil {
				return uuid.Nil, err
			}
			if !ok {
				wrongCode = true
				return uuid.Nil, models.ErrInvalidCode()
			}
		}
		return user.ID, then(ctx, db, user)
	})
	if err != nil {
		if !wrongCode {
			_ = attempt.Cancel(ctx)
		} else if evErr := h.Reauth.failed(c, user, models.LoginFailedMFA); evErr != nil {
			return evErr
		}
		return err
	}
	_ = attempt.Cancel(ctx) // right password: not a failure
	return nil
}

type setupJSON struct {
	Secret     string `json:"secret"`
	OTPAuthURI string `json:"otpauth_uri"`
}

// setup handles POST /auth/mfa/totp/setup {"password"}: a new TOTP secret, not active until
// confirmed; 409 with MFA on.
func (h *MFA) setup(c *fiber.Ctx) error {
	in, err := decodeFields(c.Request().Body(), "password")
	if err != nil {
		return err
	}
	password, err := required("password", in["password"])
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	user, attempt, err := h.Reauth.check(c, password)
	if err != nil {
		return err
	}
	_ = attempt.Cancel(ctx)
	secret, uri, err := h.MFA.Setup(ctx, user.ID, user.Email)
	if err != nil {
		return err
	}
	h.Events("mfa_setup", "success")
	return c.JSON(setupJSON{Secret: secret, OTPAuthURI: uri})
}

type recoveryCodesJSON struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

// confirm handles POST /auth/mfa/totp/confirm {"code"}: MFA on, the recovery codes shown once,
// every other session of the user ended.
func (h *MFA) confirm(c *fiber.Ctx) error {
	in, err := decodeFields(c.Request().Body(), "code")
	if err != nil {
		return err
	}
	code, err := required("code", in["code"])
	if err != nil {
		return err
	}
	p := middleware.PrincipalOf(c)
	keep, err := uuid.Parse(p.SessionID)
	if err != nil {
		return models.Errorf(models.CodeUnauthorized, "invalid token")
	}
	var codes []string
	ev := auditEvent(c, h.ClientAddr, models.EventMFAEnabled, nil)
	err = h.Sessions.EndAllWith(c.UserContext(), keep, models.EndMFA, ev, func(ctx context.Context, db bun.IDB) (uuid.UUID, error) {
		var err error
		codes, err = h.MFA.Confirm(ctx, db, p.UserID, code)
		return p.UserID, err
	})
	if err != nil {
		return err
	}
	h.Events("mfa_confirm", "success")
	return c.JSON(recoveryCodesJSON{RecoveryCodes: codes})
}

// passwordAndCode reads {"password","code"}.
func passwordAndCode(c *fiber.Ctx) (string, string, error) {
	in, err := decodeFields(c.Request().Body(), "password", "code")
	if err != nil {
		return "", "", err
	}
	password, err := required("password", in["password"])
	if err != nil {
		return "", "", err
	}
	code, err := required("code", in["code"])
	return password, code, err
}

// disable handles POST /auth/mfa/totp/disable {"password","code"}: MFA off (the code a current
// TOTP code or a recovery code), every other session ended.
func (h *MFA) disable(c *fiber.Ctx) error {
	password, code, err := passwordAndCode(c)
	if err != nil {
		return err
	}
	err = h.proveOwner(c, password, &code, auditEvent(c, h.ClientAddr, models.EventMFADisabled, nil), func(ctx context.Context, db bun.IDB, user *models.User) error {
		return models.Remove(ctx, db, user.ID)
	})
	if err != nil {
		return err
	}
	h.Events("mfa_disable", "success")
	return c.SendStatus(fiber.StatusNoContent)
}

// recoveryCodes handles POST /auth/mfa/recovery-codes {"password","code"}: a new set of codes;
// the old set dies.
func (h *MFA) recoveryCodes(c *fiber.Ctx) error {
	password, code, err := passwordAndCode(c)
	if err != nil {
		return err
	}
	var codes []string
	err = h.proveOwner(c, password, &code, nil, func(ctx context.Context, db bun.IDB, user *models.User) error {
		var err error
		codes, err = h.MFA.RegenerateCodes(ctx, db, user.ID)
		return err
	})
	if err != nil {
		return err
	}
	h.Events("mfa_recovery_codes", "success")
	return c.JSON(recoveryCodesJSON{RecoveryCodes: codes})
}

type mfaRequiredJSON struct {
	MFARequired bool   `json:"mfa_required"`
	MFAToken    string `json:"mfa_token"`
	ExpiresIn   int64  `json:"expires_in"`
}

// verify handles POST /auth/mfa/verify {"mfa_token","code"} or {"mfa_token","recovery_code"}:
// the second step of a login, 200 in login's shape. Every wrong code counts in the login limits
// of the account and address (checked before the code: past them, 429 even for a right one),
// and against the mfa_token (the fifth kills it).
func (h *MFA) verify(c *fiber.Ctx) error {
	in, err := decodeFields(c.Request().Body(), "mfa_token", "code", "recovery_code")
	if err != nil {
		return err
	}
	token, err := required("mfa_token", in["mfa_token"])
	if err != nil {
		return err
	}
	code, recovery := in["code"], in["recovery_code"]
	if (code == nil) == (recovery == nil) {
		return models.Errorf(models.CodeValidation, "send one of code and recovery_code")
	}
	ctx := c.UserContext()
	pending, err := h.MFA.PendingOf(ctx, token)
	if err != nil {
		return err
	}
	attempt, err := h.Limiter.Reserve(ctx, pending.Email, h.ClientAddr(c))
	if err != nil {
		if models.ErrorCode(err) == models.CodeRateLimited {
			h.Events("mfa_verify", "rate_limited")
		}
		return err
	}
	given := ""
	if code != nil {
		given = *code
	} else {
		given = *recovery
	}
	proof, _, err := h.MFA.Verify(ctx, token, given, recovery != nil)
	if err != nil {
		if !errors.Is(err, models.ErrInvalidCode()) {
			_ = attempt.Cancel(ctx)
		} else {
			h.Events("mfa_verify", "invalid_code") // Reserve counted it
			if evErr := h.Reauth.failed(c, &models.User{ID: pending.UserID}, models.LoginFailedMFA); evErr != nil {
				return evErr
			}
		}
		return err
	}
	if recovery != nil {
		ev := auditEvent(c, h.ClientAddr, models.EventMFARecoveryUsed, nil)
		ev.UserID = &pending.UserID
		if err := h.Sessions.Events().Write(ctx, *ev); err != nil {
			_ = attempt.Cancel(ctx)
			return err
		}
	}
	client := models.Client{IP: h.ClientAddr(c), UserAgent: c.Get(fiber.HeaderUserAgent)}
	grant, err := h.Sessions.Open(ctx, *proof, client)
	if err != nil {
		_ = attempt.Cancel(ctx)
		return err
	}
	_ = attempt.Succeed(ctx)
	h.Events("mfa_verify", "success")
	return c.JSON(grantJSON(grant, h.Sessions.Options().AccessTTL))
}
