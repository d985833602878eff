package middleware

import (
	"errors"
	"time"

	jwtware "github.com/gofiber/contrib/jwt"
	"github.com/gofiber/fiber/v2"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/example/authapi/models"
)

// JWTOptions configures signing and checking of tokens.
type JWTOptions struct {
	Secret []byte
	Issuer string
	Expiry time.Duration
	// Leeway is the clock skew tolerated on nbf; exp is checked without leeway.
	Leeway time.Duration
}

// Claims are the claims of the service's tokens. It is used as a pointer (the jwt middleware
// panics otherwise).
type Claims struct {
	jwt.RegisteredClaims
	Role models.Role `json:"role"`
}

// Validate is called by the jwt library after its own exp/iat checks. The library accepts a
// token with no exp, sub or jti; the contract does not.
func (c *Claims) Validate() error {
	switch {
	case c.ExpiresAt == nil:
		return errors.New("token has no exp")
	case c.ID == "":
		return errors.New("token has no jti")
	case c.Issuer == "":
		return errors.New("token has no iss")
	}
	if _, err := uuid.Parse(c.Subject); err != nil {
		return errors.New("token sub is not a user id")
	}
	if _, err := models.ParseRole(string(c.Role)); err != nil {
		return errors.New("token role is unknown")
	}
	return nil
}

// GetNotBefore hides nbf from the library's own check, which allows no leeway and cannot be
// configured through the jwt middleware; JWT checks nbf itself with the configured leeway.
func (c *Claims) GetNotBefore() (*jwt.NumericDate, error) { return nil, nil }

// Principal is the authenticated caller of a request.
type Principal struct {
	UserID    uuid.UUID
	TokenID   string
	Role      models.Role
	ExpiresAt time.Time
}

// PrincipalOf returns the caller that JWT authenticated, or nil on an open route.
func PrincipalOf(c *fiber.Ctx) *Principal {
	p, _ := c.Locals(principalKey).(*Principal)
	return p
}

// Issuer signs tokens.
type Issuer struct {
	opts JWTOptions
	now  func() time.Time
}

// NewIssuer returns an Issuer; now is the clock (time.Now outside tests).
func NewIssuer(opts JWTOptions, now func() time.Time) *Issuer {
	return &Issuer{opts: opts, now: now}
}

// Issue returns a signed token for user and its claims.
func (i *Issuer) Issue(userID uuid.UUID, role models.Role) (string, *Claims, error) {
	now := i.now().UTC().Truncate(time.Second)
	claims := &Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   userID.String(),
			Issuer:    i.opts.Issuer,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(i.opts.Expiry)),
			ID:        uuid.NewString(),
		},
		Role: role,
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(i.opts.Secret)
	if err != nil {
		return "", nil, err
	}
	return signed, claims, nil
}

// TokenRejected is told why a token was refused, for metrics; reason is a fixed word.
type TokenRejected func(reason string)

// JWT authenticates the request with gofiber/contrib/jwt: an `Authorization: Bearer` header
// only (never the query string), HS256 only, the configured secret, then exp/sub/jti/iss/nbf.
// On success it stores the Principal and runs next, the whitelist check, so the order is
// always: signature and claims, then Redis, then the handler.
func JWT(opts JWTOptions, rejected TokenRejected, next fiber.Handler) fiber.Handler {
	unauthorized := func(reason, message string) error {
		if rejected != nil {
			rejected(reason)
		}
		return models.Errorf(models.CodeUnauthorized, "%s", message)
	}
	return jwtware.New(jwtware.Config{
		SigningKey: jwtware.SigningKey{JWTAlg: jwtware.HS256, Key: opts.Secret},
		Claims:     &Claims{},
		// The middleware answers 400 on a missing token and writes its own body; the contract
		// wants 401 in its error shape for every failure.
		ErrorHandler: func(c *fiber.Ctx, err error) error {
			switch {
			case errors.Is(err, jwtware.ErrJWTMissingOrMalformed):
				return unauthorized("missing", "missing bearer token")
			case errors.Is(err, jwt.ErrTokenExpired):
				return unauthorized("expired", "token expired")
			default:
				return unauthorized("invalid", "invalid token")
			}
		},
		SuccessHandler: func(c *fiber.Ctx) error {
			token, _ := c.Locals("user").(*jwt.Token)
			claims, ok := token.Claims.(*Claims)
			if !ok {
				return unauthorized("invalid", "invalid token")
			}
			if claims.Issuer != opts.Issuer {
				return unauthorized("invalid", "invalid token")
			}
			if claims.NotBefore != nil && time.Now().Add(opts.Leeway).Before(claims.NotBefore.Time) {
				return unauthorized("not_yet_valid", "token not valid yet")
			}
			userID, _ := uuid.Parse(claims.Subject) // checked by Validate
			c.Locals(principalKey, &Principal{
				UserID:    userID,
				TokenID:   claims.ID,
				Role:      claims.Role,
				ExpiresAt: claims.ExpiresAt.Time,
			})
			return next(c)
		},
	})
}

// Whitelist lets the request through only while its token's jti is whitelisted in Redis. A
// Redis failure is a 503: the check fails closed.
func Whitelist(tokens *models.TokenStore, rejected TokenRejected) fiber.Handler {
	return func(c *fiber.Ctx) error {
		p := PrincipalOf(c)
		if p == nil {
			return models.Errorf(models.CodeUnauthorized, "missing bearer token")
		}
		live, err := tokens.Exists(c.UserContext(), p.TokenID)
		if err != nil {
			return err
		}
		if !live {
			if rejected != nil {
				rejected("revoked")
			}
			return models.Errorf(models.CodeUnauthorized, "token revoked")
		}
		return c.Next()
	}
}

// RequireRole lets through only callers whose token carries role.
func RequireRole(role models.Role) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if p := PrincipalOf(c); p == nil || p.Role != role {
			return models.Errorf(models.CodeForbidden, "%s role required", role)
		}
		return c.Next()
	}
}
