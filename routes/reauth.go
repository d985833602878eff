package routes

import (
	"github.com/gofiber/fiber/v2"

	"github.com/example/authapi/middleware"
	"github.com/example/authapi/models"
)

// Reauth asks the caller of a sensitive change for their password again (MFA setup, disable and
// recovery codes, email change, account deletion): a wrong one is a failed login, on the login
// limits and in the audit trail, so a stolen access token cannot be used to guess the password.
type Reauth struct {
	Users   models.UserStore
	Hasher  *models.Hasher
	Limiter *models.LoginLimiter
	// Audit writes login.failed; ClientAddr names the client for the limits.
	Audit      func() *models.EventWriter
	ClientAddr func(*fiber.Ctx) string
}

// check loads the caller and checks password. On success it returns the user and the
// reservation on the login limits, which the caller settles: Cancel when the change went
// through or failed for the server's reasons, nothing when a second factor was wrong (it stays
// a failed login). A wrong password is counted, recorded and answered 401 here.
func (r *Reauth) check(c *fiber.Ctx, password string) (*models.User, *models.Reservation, error) {
	p := middleware.PrincipalOf(c)
	ctx := c.UserContext()
	user, err := r.Users.ByID(ctx, p.UserID)
	if err != nil {
		if models.ErrorCode(err) == models.CodeNotFound {
			return nil, nil, models.Errorf(models.CodeUnauthorized, "user no longer exists")
		}
		return nil, nil, err
	}
	attempt, err := r.Limiter.Reserve(ctx, user.Email, r.ClientAddr(c))
	if err != nil {
		return nil, nil, err
	}
	ok, err := r.Hasher.Verify(ctx, &user.PasswordHash, password)
	if err != nil {
		_ = attempt.Cancel(ctx)
		return nil, nil, err
	}
	if !ok {
		if err := r.failed(c, user, models.LoginFailedBadPassword); err != nil {
			return nil, nil, err
		}
		return nil, nil, models.ErrInvalidCredentials // Reserve counted it
	}
	return user, attempt, nil
}

// failed records login.failed for user with reason, before the answer goes out.
func (r *Reauth) failed(c *fiber.Ctx, user *models.User, reason string) error {
	ev := auditEvent(c, r.ClientAddr, models.EventLoginFailed, map[string]any{"reason": reason})
	ev.UserID = &user.ID
	return r.Audit().Write(c.UserContext(), *ev)
}
