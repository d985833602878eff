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

// JWTOptions configures the checking of tokens (models.Issuer signs them).
type JWTOptions struct {
	// Secret verifies HS256 tokens; it is not used when Keys is set.
	Secret []byte
	// Keys, when set, switch to EdDSA: a token verifies only with the key its kid names, and
	// only as EdDSA (JWT_ALG=EdDSA).
	Keys   []models.SigningKey
	Issuer string
	// Leeway is the clock skew tolerated on nbf; exp is checked without leeway.
	Leeway time.Duration
}

// Principal is the authenticated caller of a request.
type Principal struct {
	UserID    uuid.UUID
	TokenID   string
	SessionID string
	Role      models.Role
	AMR       []string
	ExpiresAt time.Time
}

// PrincipalOf returns the caller that JWT authenticated, or nil on an open route.
func PrincipalOf(c *fiber.Ctx) *Principal {
	p, _ := c.Locals(principalKey).(*Principal)
	return p
}

// TokenRejected is told why a token was refused, for metrics; reason is a fixed word.
type TokenRejected func(reason string)

// JWT authenticates the request with gofiber/contrib/jwt: an `Authorization: Bearer` header
// only (never the query string), HS256 only with the configured secret (kid ignored), or EdDSA
// only with the configured key that the token's kid names (see verifyKeys), then
// exp/sub/jti/iss/nbf. jku, jwk and x5u are never read.
// On success it stores the Principal and passes the request on. It does not ask Redis: each
// protected route lists its whole chain where it is registered, JWT then Whitelist (then a
// role check) then the handler.
func JWT(opts JWTOptions, rejected TokenRejected) fiber.Handler {
	unauthorized := func(reason, message string) error {
		if rejected != nil {
			rejected(reason)
		}
		return models.Errorf(models.CodeUnauthorized, "%s", message)
	}
	return jwtware.New(jwtware.Config{
		SigningKey:  jwtware.SigningKey{JWTAlg: jwtware.HS256, Key: opts.Secret},
		SigningKeys: verifyKeys(opts.Keys),
		Claims:      &models.Claims{},
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
			claims, ok := token.Claims.(*models.Claims)
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
				SessionID: claims.SessionID,
				Role:      claims.Role,
				AMR:       claims.AMR,
				ExpiresAt: claims.ExpiresAt.Time,
			})
			return c.Next()
		},
	})
}

// Whitelist lets the request through only while its token is live in Redis: whitelisted, and
// its session live (models.TokenStore.Check, one round trip). It
// runs after JWT. A Redis failure is a 503: the check fails closed.
func Whitelist(tokens *models.TokenStore, rejected TokenRejected) fiber.Handler {
	return func(c *fiber.Ctx) error {
		p := PrincipalOf(c)
		if p == nil {
			return models.Errorf(models.CodeUnauthorized, "missing bearer token")
		}
		live, err := tokens.Check(c.UserContext(), p.UserID.String(), p.SessionID, p.TokenID, p.Role)
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
