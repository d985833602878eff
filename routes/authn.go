package routes

import "github.com/gofiber/fiber/v2"

// Authn is the chain that authenticates a protected route, in this order: JWT checks the
// bearer token's signature and claims, Whitelist asks Redis whether the token is still live.
// Every protected route lists both where it is registered, then any role check, then its
// handler, so that a route's whole chain reads in one line.
type Authn struct {
	JWT       fiber.Handler
	Whitelist fiber.Handler
}
