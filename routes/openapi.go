package routes

import (
	_ "embed" // the document and the docs page are compiled into the binary

	"github.com/gofiber/fiber/v2"
)

// openAPIJSON is the one source of the API description: tests validate every exchange against
// it, and the binary serves it as is.
//
//go:embed openapi.json
var openAPIJSON []byte

// The /docs page and the Redoc bundle (npm redoc 2.5.4, bundles/redoc.standalone.js, MIT,
// see docs/redoc.LICENSE), so the page works with no internet access.
var (
	//go:embed docs/index.html
	docsPage []byte
	//go:embed docs/redoc.standalone.js
	redocScript []byte
)

// OpenAPIDocument returns the embedded OpenAPI 3.1 document.
func OpenAPIDocument() []byte { return openAPIJSON }

// docsCSP lets the page load only what the binary serves. Redoc styles inline and runs its
// search index in a blob: worker.
const docsCSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src blob:"

// RegisterDocs mounts GET /openapi.json and the browsable reference at GET /docs.
func RegisterDocs(r fiber.Router) {
	r.Get("/openapi.json", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
		return c.Send(openAPIJSON)
	})
	r.Get("/docs", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
		c.Set(fiber.HeaderContentSecurityPolicy, docsCSP)
		return c.Send(docsPage)
	})
	r.Get("/docs/redoc.standalone.js", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, "text/javascript; charset=utf-8")
		// The bundle changes only with the binary; an hour of caching spares 1 MB per visit.
		c.Set(fiber.HeaderCacheControl, "public, max-age=3600")
		return c.Send(redocScript)
	})
}
