package routes

import (
	"context"
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/example/authapi/middleware"
	"github.com/example/authapi/models"
)

// AuthEvents counts authentication events for metrics; event and result are fixed words.
type AuthEvents func(event, result string)

// Auth serves /auth/*.
type Auth struct {
	Users    models.UserStore
	Sessions *models.Sessions
	// MFA starts the second step of a login for a user with MFA on.
	MFA     *models.MFA
	Hasher  *models.Hasher
	Limiter *models.LoginLimiter
	Events  AuthEvents
	// ClientAddr names the client for the login and registration limits (see
	// middleware.ClientAddr).
	ClientAddr func(*fiber.Ctx) string
	// Accounts writes a new user together with its verification message.
	Accounts *models.AccountStore
	// MailQueued wakes this process's mail delivery worker.
	MailQueued func()

	// Registrations limits registrations per client address.
	Registrations *models.RegisterLimiter
}

// RegisterAuth mounts the auth routes: register, login and refresh are open (JSON bodies
// only); me, logout and logout-all need a live token (JWT, then the Redis whitelist).
func RegisterAuth(r fiber.Router, h *Auth, auth Authn) {
	g := r.Group("/auth")
	g.Post("/register", middleware.RequireJSON(), h.register)
	g.Post("/login", middleware.RequireJSON(), h.login)
	g.Get("/me", auth.JWT, auth.Whitelist, h.me)
	g.Post("/logout", auth.JWT, auth.Whitelist, h.logout)
	g.Post("/logout-all", auth.JWT, auth.Whitelist, h.logoutAll)
	g.Post("/refresh", middleware.RequireJSON(), h.refresh)
}

// register handles POST /auth/register: a new pending_verification user and its verification
// message, 409 if the email is taken in any case. Each valid attempt counts against the client address's limit, a 409
// included: a 409 tells whether an email has an account, so counting it bounds how fast an
// address can probe for accounts. A 400 costs nothing and tells nothing, and is not counted.
func (h *Auth) register(c *fiber.Ctx) error {
	// The raw body, never c.Body(): that one inflates any Content-Encoding without a limit.
	email, password, err := decodeCredentials(c.Request().Body())
	if err != nil {
		return err
	}
	if email, err = models.ValidateCredentials(email, password); err != nil {
		return err
	}
	ctx := c.UserContext()
	attempt, err := h.Registrations.Reserve(ctx, h.ClientAddr(c))
	if err != nil {
		if models.ErrorCode(err) != models.CodeUnavailable {
			h.Events("register", "rate_limited")
			return err
		}
		// Register needs only Postgres (the contract's outage rules): with Redis down it goes on
		// uncounted, still bounded by the bcrypt slots, where logins go first. Counted in metrics.
		h.Events("register", "limit_unavailable")
		attempt = nil
	}
	u, err := h.create(ctx, email, password, auditEvent(c, h.ClientAddr, models.EventUserRegistered, nil))
	if err != nil {
		if attempt != nil && models.ErrorCode(err) == models.CodeUnavailable {
			attempt.Cancel(ctx) // the server's failure, not the client's: do not count it
		}
		return err
	}
	h.MailQueued()
	h.Events("register", "success")
	return c.Status(fiber.StatusCreated).JSON(success(newUserJSON(u)))
}

// create hashes and inserts a pending_verification user (and its verification message) with a
// validated email and password, with its user.registered event ev.
func (h *Auth) create(ctx context.Context, email, password string, ev *models.Event) (*models.User, error) {
	// Checked before hashing so a duplicate costs no bcrypt work; the unique index still
	// decides races between concurrent registrations.
	taken, err := h.Users.EmailExists(ctx, email)
	if err != nil {
		return nil, err
	}
	if taken {
		h.Events("register", "conflict")
		return nil, models.Errorf(models.CodeConflict, "email already exists")
	}
	hash, err := h.Hasher.Hash(ctx, password)
	if err != nil {
		return nil, err
	}
	u := &models.User{Email: email, PasswordHash: hash, Status: models.StatusPendingVerification, Role: models.RoleUser}
	// The verification message is queued in the same transaction as the user.
	if err := h.Accounts.CreatePending(ctx, u, ev); err != nil {
		if models.ErrorCode(err) == models.CodeConflict {
			h.Events("register", "conflict")
		}
		return nil, err
	}
	return u, nil
}

type tokenJSON struct {
	Token     string `json:"token"`
	TokenType string `json:"token_type"`
	ExpiresIn int64  `json:"expires_in"`
	ExpiresAt string `json:"expires_at"`
	// Additive fields of sessions: old clients ignore them and keep working.
	RefreshToken     string `json:"refresh_token"`
	RefreshExpiresAt string `json:"refresh_expires_at"`
	SessionID        string `json:"session_id"`
}

// grantJSON is login's and refresh's 200 body.
func grantJSON(g *models.Grant, accessTTL time.Duration) tokenJSON {
	return tokenJSON{
		Token:            g.AccessToken,
		TokenType:        "Bearer",
		ExpiresIn:        int64(accessTTL / time.Second),
		ExpiresAt:        g.AccessExpiresAt.UTC().Format(time.RFC3339),
		RefreshToken:     g.RefreshToken,
		RefreshExpiresAt: g.RefreshExpiresAt.UTC().Format(time.RFC3339),
		SessionID:        g.SessionID.String(),
	}
}

// clientOf describes the requesting device for its session.
func (h *Auth) clientOf(c *fiber.Ctx) models.Client {
	// Both copied out of fasthttp's buffers: ClientAddr builds its own string, and the session
	// keeps a cut copy of the User-Agent.
	return models.Client{IP: h.ClientAddr(c), UserAgent: c.Get(fiber.HeaderUserAgent)}
}

// login handles POST /auth/login. Each attempt is counted in Redis as a failure before any
// password is checked, and the count is given back unless the password turns out wrong; an
// attempt past a limit is refused with 429 and costs no bcrypt work. A right password opens a
// session (models.Sessions.Open), which decides the races with a reset, a change, a suspension
// or a revocation of all sessions under the user row's lock.
func (h *Auth) login(c *fiber.Ctx) error {
	// The raw body, never c.Body(): that one inflates any Content-Encoding without a limit.
	rawEmail, password, err := decodeCredentials(c.Request().Body())
	if err != nil {
		return err
	}
	// One string for the limiter, the lookup and storage: the normalised email.
	email := models.NormalizeEmail(rawEmail)
	addr := h.ClientAddr(c)
	ctx := c.UserContext()
	attempt, err := h.Limiter.Reserve(ctx, email, addr)
	if err != nil {
		if models.ErrorCode(err) == models.CodeRateLimited {
			h.Events("login", "rate_limited")
			// The event names the account whenever the email is one's, refused or not.
			var user *models.User
			if models.ValidateEmail(email) == nil {
				found, lookupErr := h.Users.ByEmail(ctx, email)
				if lookupErr != nil && models.ErrorCode(lookupErr) != models.CodeNotFound {
					return lookupErr
				}
				user = found
			}
			if evErr := h.loginFailed(c, user, models.LoginFailedRateLimited); evErr != nil {
				return evErr
			}
		}
		return err
	}
	var user *models.User
	// An email that could never be stored (NUL, zero-width, non-ASCII, too long) has no
	// account: it is not looked up at all (Bun would drop a NUL and find the account without
	// it), and fails like an unknown email, counted, after the same dummy comparison.
	if models.ValidateEmail(email) == nil {
		user, err = h.Users.ByEmail(ctx, email)
		if err != nil && models.ErrorCode(err) != models.CodeNotFound {
			_ = attempt.Cancel(ctx) // no password was checked: not a failure
			return err
		}
	}
	var hash *string
	if user != nil {
		hash = &user.PasswordHash
	}
	// Verify compares against a dummy hash when there is no user, so both failures cost the same.
	ok, err := h.Hasher.Verify(ctx, hash, password)
	if err != nil {
		_ = attempt.Cancel(ctx)
		return err
	}
	if !ok {
		// Reserve has counted this failure already.
		h.Events("login", "invalid_credentials")
		reason := models.LoginFailedBadPassword
		if user == nil {
			reason = models.LoginFailedUnknownEmail
		}
		if err := h.loginFailed(c, user, reason); err != nil {
			return err
		}
		return models.ErrInvalidCredentials
	}
	if user.IsSuspendedAt(time.Now()) {
		_ = attempt.Cancel(ctx)
		h.Events("login", "suspended")
		if err := h.loginFailed(c, user, models.LoginFailedSuspended); err != nil {
			return err
		}
		return models.Errorf(models.CodeForbidden, "account suspended")
	}
	// The hash the password matched and the epoch read with it go along: the session opens
	// only if both are still the stored ones, and only with a second factor if the user has
	// MFA on (models.Sessions.Open decides all of it under the user row's lock).
	proof := models.LoginProof{UserID: user.ID, VerifiedHash: user.PasswordHash, SessionEpoch: user.SessionEpoch, AMR: []string{"pwd"}}
	client := h.clientOf(c)
	grant, err := h.Sessions.Open(ctx, proof, client)
	if errors.Is(err, models.ErrMFARequired) {
		// The password was right, but this is no success yet: the count goes back, and neither the
		// account+address counter is cleared nor the address marked known until the second step.
		_ = attempt.Cancel(ctx)
		token, err := h.MFA.Challenge(ctx, proof, email, client)
		if err != nil {
			return err
		}
		h.Events("login", "mfa_required")
		return c.JSON(mfaRequiredJSON{MFARequired: true, MFAToken: token, ExpiresIn: int64(h.MFA.Options().ChallengeTTL / time.Second)})
	}
	if err != nil {
		_ = attempt.Cancel(ctx)
		switch models.ErrorCode(err) {
		case models.CodeForbidden:
			h.Events("login", "suspended")
			if evErr := h.loginFailed(c, user, models.LoginFailedSuspended); evErr != nil {
				return evErr
			}
		case models.CodeUnauthorized:
			h.Events("login", "raced_revocation")
			if errors.Is(err, models.ErrInvalidCredentials) {
				// The password matched a hash a reset or change replaced meanwhile: it is no
				// longer the account's.
				if evErr := h.loginFailed(c, user, models.LoginFailedBadPassword); evErr != nil {
					return evErr
				}
			}
		}
		return err
	}
	if err := attempt.Succeed(ctx); err != nil {
		// The session is open and its tokens are live: hand them out. The counters were only
		// to be cleared; the metric says that it failed.
		h.Events("login", "limiter_unavailable")
	}
	h.rehash(ctx, user, user.PasswordHash, password)
	h.Events("login", "success")
	return c.JSON(grantJSON(grant, h.Sessions.Options().AccessTTL))
}

// loginFailed writes login.failed before the answer goes out: with the account's id whenever
// the email names one (user), null only for an unknown email. A failure to write it fails the
// request (503): no refusal goes unrecorded.
func (h *Auth) loginFailed(c *fiber.Ctx, user *models.User, reason string) error {
	ev := auditEvent(c, h.ClientAddr, models.EventLoginFailed, map[string]any{"reason": reason})
	if user != nil {
		ev.UserID = &user.ID
	}
	return h.Sessions.Events().Write(c.UserContext(), *ev)
}

// rehash replaces a stored hash whose cost is not BCRYPT_COST (an imported or older one) with
// one that is, so that the account answers in the same time as every other from its next login
// on. The password has just matched verified; the row is updated only if it still holds that
// hash. A failure (no bcrypt slot, Postgres) is counted and never fails the login.
func (h *Auth) rehash(ctx context.Context, user *models.User, verified, password string) {
	if user.PasswordHash != verified || !h.Hasher.NeedsRehash(verified) {
		return
	}
	hash, err := h.Hasher.Hash(ctx, password)
	if err == nil {
		err = h.Users.ReplacePasswordHash(ctx, user.ID, verified, hash)
	}
	if err != nil {
		h.Events("rehash", "failed")
		return
	}
	h.Events("rehash", "success")
}

// me handles GET /auth/me: the caller's user, bare. A token whose user is gone is a 401.
func (h *Auth) me(c *fiber.Ctx) error {
	p := middleware.PrincipalOf(c)
	user, err := h.Users.ByID(c.UserContext(), p.UserID)
	if err != nil {
		if models.ErrorCode(err) == models.CodeNotFound {
			return models.Errorf(models.CodeUnauthorized, "user no longer exists")
		}
		return err
	}
	// The hot path: encoded straight into a stack buffer, then copied into the response.
	var scratch [512]byte
	c.Response().Header.SetContentType(fiber.MIMEApplicationJSON)
	c.Response().SetBody(AppendMeJSON(scratch[:0], user)) // SetBody copies; c.Send would keep the slice
	return nil
}

// logout handles POST /auth/logout: the caller's session ends, its refresh token included;
// its tokens are refused from now on, on every instance.
func (h *Auth) logout(c *fiber.Ctx) error {
	p := middleware.PrincipalOf(c)
	sid, err := uuid.Parse(p.SessionID)
	if err != nil {
		return models.Errorf(models.CodeUnauthorized, "invalid token")
	}
	// A session ended meanwhile (another device, an admin) is ended: logout is done either way.
	ev := auditEvent(c, h.ClientAddr, models.EventLogout, nil)
	if err := h.Sessions.Revoke(c.UserContext(), p.UserID, sid, models.EndLogout, ev, p.TokenID); err != nil && models.ErrorCode(err) != models.CodeNotFound {
		return err
	}
	h.Events("logout", "success")
	return c.SendStatus(fiber.StatusNoContent)
}

// logoutAll handles POST /auth/logout-all: every session of the caller ends.
func (h *Auth) logoutAll(c *fiber.Ctx) error {
	p := middleware.PrincipalOf(c)
	ev := auditEvent(c, h.ClientAddr, models.EventLogoutAll, nil)
	if _, err := h.Sessions.RevokeAll(c.UserContext(), p.UserID, uuid.Nil, models.EndLogoutAll, ev); err != nil {
		if models.ErrorCode(err) == models.CodeNotFound {
			return models.Errorf(models.CodeUnauthorized, "user no longer exists")
		}
		return err
	}
	h.Events("logout_all", "success")
	return c.SendStatus(fiber.StatusNoContent)
}

// refresh handles POST /auth/refresh {"refresh_token"}: a new access token and refresh token of
// the same session, in login's shape; the token presented is spent (models.Sessions.Refresh).
func (h *Auth) refresh(c *fiber.Ctx) error {
	// The raw body, never c.Body(): that one inflates any Content-Encoding without a limit.
	in, err := decodeFields(c.Request().Body(), "refresh_token")
	if err != nil {
		return err
	}
	token, err := required("refresh_token", in["refresh_token"])
	if err != nil {
		return err
	}
	grant, err := h.Sessions.Refresh(c.UserContext(), token, h.clientOf(c))
	if err != nil {
		switch models.ErrorCode(err) {
		case models.CodeUnauthorized:
			h.Events("refresh", "invalid")
		case models.CodeForbidden:
			h.Events("refresh", "suspended")
		}
		return err
	}
	h.Events("refresh", "success")
	return c.JSON(grantJSON(grant, h.Sessions.Options().AccessTTL))
}
