package routes

import (
	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/example/authapi/middleware"
	"github.com/example/authapi/models"
)

// auditEvent starts an audit event of type t for the request: its client (addr as the limits
// see it, and the User-Agent, both copied out of fasthttp's buffers) and, on a route with a
// token, the caller as actor and the caller's session. The store that writes it fills in the
// user it is about when the event leaves it unset.
func auditEvent(c *fiber.Ctx, addr func(*fiber.Ctx) string, t models.EventType, details map[string]any) *models.Event {
	ev := models.Event{Type: t, Details: details}.WithClient(models.Client{IP: addr(c), UserAgent: c.Get(fiber.HeaderUserAgent)})
	if p := middleware.PrincipalOf(c); p != nil {
		ev.ActorID = models.UUIDRef(p.UserID)
		if sid, err := uuid.Parse(p.SessionID); err == nil {
			ev.SessionID = &sid
		}
	}
	return &ev
}
