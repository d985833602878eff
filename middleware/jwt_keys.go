package middleware

import (
	jwtware "github.com/gofiber/contrib/jwt"
	"github.com/golang-jwt/jwt/v5"

	"github.com/example/authapi/models"
)

// verifyKeys is the middleware's SigningKeys under EdDSA: each public key by its kid, pinned to
// EdDSA. When SigningKeys is set the middleware ignores SigningKey (the HS256 secret) and looks
// the key up with keyfunc's given keys: no kid, or a kid not in the map, is refused
// (ErrKIDNotFound; given keys never fetch anything), and so is a token whose alg is not the
// key's, before any signature is checked. golang-jwt then refuses a key of the wrong type for
// the method too, so an HS256 token "signed" with a public key's bytes cannot pass either way.
// nil under HS256: the middleware then takes SigningKey, pinned to HS256, and never reads kid.
func verifyKeys(keys []models.SigningKey) map[string]jwtware.SigningKey {
	if len(keys) == 0 {
		return nil
	}
	m := make(map[string]jwtware.SigningKey, len(keys))
	for _, k := range keys {
		m[k.Kid] = jwtware.SigningKey{JWTAlg: jwt.SigningMethodEdDSA.Alg(), Key: k.Public}
	}
	return m
}
