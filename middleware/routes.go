package middleware

import (
	"sync"

	"github.com/gofiber/fiber/v2"
)

// routeKey names one endpoint: the method Fiber stored on the route and its template.
type routeKey struct{ method, path string }

// endpoints tells the route that answered a request apart from a middleware route. Fiber
// stores an app.Use route under each request method (its Method is "GET", not "USE") and its
// "use" flag is unexported, so c.Route() alone cannot say whether an endpoint matched: an
// unknown path would be labelled with the middleware's prefix ("/"). GetRoutes(true) does see
// the flag; its answer is read once, at the first request, when every route is registered.
type endpoints struct {
	once sync.Once
	set  map[routeKey]struct{}
}

// template is the template of the endpoint that answered (/users/stats), or UnmatchedRoute
// when none did. Endpoints carry their whole middleware chain (see routes), so the last route
// Fiber ran is a middleware one only when no endpoint matched.
func (e *endpoints) template(c *fiber.Ctx) string {
	e.once.Do(func() {
		e.set = map[routeKey]struct{}{}
		for _, r := range c.App().GetRoutes(true) {
			e.set[routeKey{r.Method, r.Path}] = struct{}{}
		}
	})
	r := c.Route()
	if r == nil {
		return UnmatchedRoute
	}
	if _, ok := e.set[routeKey{r.Method, r.Path}]; !ok {
		return UnmatchedRoute
	}
	return r.Path // from the route table, not the request: safe to keep
}
