package middleware

import (
	"mime"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/example/authapi/models"
)

// SecureHeaders sets the headers every API response should carry: no MIME sniffing, and no
// caching of anything (tokens and user data must not land in shared caches).
func SecureHeaders() fiber.Handler {
	return func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
		c.Set(fiber.HeaderCacheControl, "no-store")
		c.Set("Referrer-Policy", "no-referrer")
		return c.Next()
	}
}

// RequireJSON refuses a request whose Content-Type is not application/json (parameters such
// as charset allowed) with 415, before its body is read.
func RequireJSON() fiber.Handler {
	return func(c *fiber.Ctx) error {
		mediaType, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
		if err != nil || !strings.EqualFold(mediaType, fiber.MIMEApplicationJSON) {
			return models.Errorf(models.CodeUnsupportedMedia, "content type must be application/json")
		}
		return c.Next()
	}
}

// HandleErrors turns an error returned further down the chain into the contract's response at
// this point, so the middleware outside it (metrics, access log) sees the final status.
func HandleErrors(handle fiber.ErrorHandler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if err := c.Next(); err != nil {
			return handle(c, err)
		}
		return nil
	}
}
