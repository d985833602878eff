package models

import (
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Claims are the claims of the service's access tokens. The jwt middleware needs it as a
// pointer (it panics otherwise).
type Claims struct {
	jwt.RegisteredClaims
	Role Role `json:"role"`
	// SessionID is the session (sid) the token belongs to: ending the session refuses it.
	SessionID string `json:"sid"`
	// AMR names how the session was authenticated: ["pwd"], ["pwd","otp"], ["pwd","recovery"].
	AMR []string `json:"amr,omitempty"`
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
	// A token without a session (one issued before sessions existed) is refused: it could
	// never be ended by a session revocation.
	if _, err := uuid.Parse(c.SessionID); err != nil {
		return errors.New("token sid is not a session id")
	}
	if _, err := ParseRole(string(c.Role)); err != nil {
		return errors.New("token role is unknown")
	}
	return nil
}

// GetNotBefore hides nbf from the library's own check, which allows no leeway and cannot be
// configured through the jwt middleware; the middleware checks nbf itself with its leeway.
func (c *Claims) GetNotBefore() (*jwt.NumericDate, error) { return nil, nil }

// IssuerOptions configures the signing of tokens: HS256 with Secret, or EdDSA with Key when
// it is set (JWT_ALG=EdDSA; the first key of JWT_SIGNING_KEYS_FILE).
type IssuerOptions struct {
	Secret []byte
	Key    *SigningKey
	Issuer string
	Expiry time.Duration
}

// Issuer signs tokens. A signed token is usable only once TokenStore.Allow has whitelisted it.
type Issuer struct {
	opts IssuerOptions
	now  func() time.Time
}

// NewIssuer returns an Issuer; now is the clock (time.Now outside tests).
func NewIssuer(opts IssuerOptions, now func() time.Time) *Issuer {
	return &Issuer{opts: opts, now: now}
}

// Expiry is the lifetime of the tokens it signs.
func (i *Issuer) Expiry() time.Duration { return i.opts.Expiry }

// Issue returns a signed access token for the user in session sid, and its claims (HS256, or
// EdDSA naming its kid; a random jti).
func (i *Issuer) Issue(userID uuid.UUID, role Role, sid uuid.UUID, amr []string) (string, *Claims, error) {
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
		Role:      role,
		SessionID: sid.String(),
		AMR:       amr,
	}
	signed, err := i.sign(claims)
	if err != nil {
		return "", nil, err
	}
	return signed, claims, nil
}
