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

// RefuseContentEncoding refuses, with 415, a request whose Content-Encoding is anything but
// identity: any coding (gzip, deflate, br, zstd, compress or a name no one knows), stacked
// codings, every case variant, in any of several Content-Encoding headers. It runs before
// anything reads the body, and nothing in this service inflates one: Fiber's c.Body() decodes
// every coding it knows with no size limit (BODY_LIMIT_BYTES counts only wire bytes), so a
// 2 KB "gzip, gzip" body would become gigabytes. An empty header, or only "identity", is no
// coding and passes.
func RefuseContentEncoding() fiber.Handler {
	return func(c *fiber.Ctx) error {
		for _, value := range c.Request().Header.PeekAll(fiber.HeaderContentEncoding) {
			for _, coding := range strings.Split(string(value), ",") {
				coding = strings.ToLower(strings.Trim(coding, " \t"))
				if coding == "" || coding == "identity" {
					continue
				}
				if !knownCoding(coding) {
					coding = "other than identity" // a name the client made up is not echoed
				}
				return models.Errorf(models.CodeUnsupportedMedia, "content-encoding %s", coding)
			}
		}
		return c.Next()
	}
}

// knownCoding reports whether coding is a registered content coding, which the 415 names.
func knownCoding(coding string) bool {
	switch coding {
	case "gzip", "x-gzip", "deflate", "br", "zstd", "compress", "x-compress", "dcb", "dcz", "exi", "pack200-gzip", "aes128gcm":
		return true
	}
	return false
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
