package routes

import (
	"embed"

	"github.com/gofiber/fiber/v2"
)

// The pages behind the links in account mail (app/mail/templates.go names their paths), with
// their script and style, compiled into the binary: no framework, nothing from another origin.
//
//go:embed pages/verify-email.html pages/reset-password.html pages/confirm-email.html pages/account.js pages/account.css
var pageFiles embed.FS

// pagesCSP lets a page load only this origin's script and style, post only to this origin,
// and be framed by no one. No inline script or style is needed, so none is allowed.
const pagesCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// RegisterPages mounts GET /verify-email and GET /reset-password, the small pages that finish
// the flows of the links in account mail (verify at once; reset after asking for the new
// password) and show the outcome, and their /pages/account.js and /pages/account.css. They
// need no database, so they answer while the service is starting too (their POST then gets
// the API's 503, which the page reports).
func RegisterPages(r fiber.Router) {
	r.Get("/verify-email", page("pages/verify-email.html", fiber.MIMETextHTMLCharsetUTF8))
	r.Get("/reset-password", page("pages/reset-password.html", fiber.MIMETextHTMLCharsetUTF8))
	r.Get("/confirm-email", page("pages/confirm-email.html", fiber.MIMETextHTMLCharsetUTF8))
	r.Get("/pages/account.js", page("pages/account.js", "text/javascript; charset=utf-8"))
	r.Get("/pages/account.css", page("pages/account.css", "text/css; charset=utf-8"))
}

// page serves one embedded file with its content type under pagesCSP.
func page(name, contentType string) fiber.Handler {
	body, err := pageFiles.ReadFile(name)
	if err != nil {
		panic(err) // a name not in the embed list above: a bug found at startup
	}
	return func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, contentType)
		c.Set(fiber.HeaderContentSecurityPolicy, pagesCSP)
		c.Set(fiber.HeaderXFrameOptions, "DENY")
		return c.Send(body)
	}
}
