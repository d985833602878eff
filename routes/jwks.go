package routes

import (
	"encoding/json"

	"github.com/gofiber/fiber/v2"

	"github.com/example/authapi/models"
)

// jwksCacheControl lets verifiers and shared caches keep the key set for five minutes: a new key
// must be listed (second in JWT_SIGNING_KEYS_FILE) at least that long before it signs.
const jwksCacheControl = "public, max-age=300"

// RegisterJWKS mounts GET /.well-known/jwks.json: the public halves of the signing keys, for
// services that verify tokens offline; {"keys":[]} under HS256, whose secret is never published.
// The body is made once here: the keys change only with a restart.
func RegisterJWKS(r fiber.Router, keys []models.SigningKey) {
	set := struct {
		Keys []models.JWK `json:"keys"`
	}{Keys: make([]models.JWK, 0, len(keys))}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.JWK())
	}
	body, err := json.Marshal(set)
	if err != nil {
		panic(err) // strings only: cannot fail
	}
	r.Get("/.well-known/jwks.json", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
		c.Set(fiber.HeaderCacheControl, jwksCacheControl)
		return c.Send(body)
	})
}
