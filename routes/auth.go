package routes

import (
	"context"
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
	Users   models.UserStore
	Tokens  *models.TokenStore
	Hasher  *models.Hasher
	Limiter *models.LoginLimiter
	Issuer  *models.Issuer
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

// RegisterAuth mounts the auth routes: register and login are open (JSON bodies only); me,
// logout and logout-all need a live token (JWT, then the Redis whitelist).
func RegisterAuth(r fiber.Router, h *Auth, auth Authn) {
	g := r.Group("/auth")
	g.Post("/register", middleware.RequireJSON(), h.register)
	g.Post("/login", middleware.RequireJSON(), h.login)
	g.Get("/me", auth.JWT, auth.Whitelist, h.me)
	g.Post("/logout", auth.JWT, auth.Whitelist, h.logout)
	g.Post("/logout-all", auth.JWT, auth.Whitelist, h.logoutAll)
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
	u, err := h.create(ctx, email, password)
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
// validated email and password.
func (h *Auth) create(ctx context.Context, email, password string) (*models.User, error) {
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
	if err := h.Accounts.CreatePending(ctx, u); err != nil {
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
}

// login handles POST /auth/login. Each attempt is counted in Redis as a failure before any
// password is checked, and the count is given back unless the password turns out wrong; an
// attempt past a limit is refused with 429 and costs no bcrypt work.
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
	// The user's revocation epoch is read before the password check and before the read of
	// the row that decides status and role (below): a suspension, demotion or logout-all that
	// lands after this read makes the token refused, and one that landed before it is seen in
	// that row (models/doc.go). An unknown email reads the nil user's epoch, so both cases do
	// the same Redis work.
	epochOf := uuid.Nil
	var hash *string
	if user != nil {
		epochOf, hash = user.ID, &user.PasswordHash
	}
	epoch, err := h.Tokens.Epoch(ctx, epochOf.String(), h.Issuer.Expiry())
	if err != nil {
		_ = attempt.Cancel(ctx)
		return err
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
		return models.Errorf(models.CodeUnauthorized, "invalid credentials")
	}
	verified := user.PasswordHash
	if user, err = h.Users.ByID(ctx, user.ID); err != nil {
		_ = attempt.Cancel(ctx)
		if models.ErrorCode(err) == models.CodeNotFound {
			return models.Errorf(models.CodeUnauthorized, "invalid credentials")
		}
		return err
	}
	if user.IsSuspendedAt(time.Now()) {
		_ = attempt.Cancel(ctx)
		h.Events("login", "suspended")
		return models.Errorf(models.CodeForbidden, "account suspended")
	}
	if err := attempt.Succeed(ctx); err != nil {
		return err
	}
	token, claims, err := h.Issuer.Issue(user.ID, user.Role)
	if err != nil {
		return err
	}
	// No token leaves the server unless Redis has whitelisted it.
	if err := h.Tokens.Allow(ctx, user.ID.String(), claims.ID, claims.Role, epoch, claims.ExpiresAt.Time); err != nil {
		return err
	}
	h.rehash(ctx, user, verified, password)
	h.Events("login", "success")
	return c.JSON(tokenJSON{
		Token:     token,
		TokenType: "Bearer",
		ExpiresIn: int64(h.Issuer.Expiry() / time.Second),
		ExpiresAt: claims.ExpiresAt.Time.UTC().Format(time.RFC3339),
	})
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
	c.Response().SetBody(AppendUserJSON(scratch[:0], user)) // SetBody copies; c.Send would keep the slice
	return nil
}

// logout handles POST /auth/logout: the token used is refused from now on, on every instance.
func (h *Auth) logout(c *fiber.Ctx) error {
	p := middleware.PrincipalOf(c)
	if err := h.Tokens.Revoke(c.UserContext(), p.UserID.String(), p.TokenID); err != nil {
		return err
	}
	h.Events("logout", "success")
	return c.SendStatus(fiber.StatusNoContent)
}

// logoutAll handles POST /auth/logout-all: every token of the caller is refused from now on.
func (h *Auth) logoutAll(c *fiber.Ctx) error {
	p := middleware.PrincipalOf(c)
	if _, err := h.Tokens.RevokeAll(c.UserContext(), p.UserID.String()); err != nil {
		return err
	}
	h.Events("logout_all", "success")
	return c.SendStatus(fiber.StatusNoContent)
}
