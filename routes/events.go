package routes

import (
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/example/authapi/middleware"
	"github.com/example/authapi/models"
)

// Events serves the audit trail: the caller's own events under /auth/events and, for admins,
// anyone's under /users/{id}/events and /events.
type Events struct {
	Store       *models.EventStore
	MaxPageSize int
}

// RegisterEvents mounts the audit routes, each with its whole chain: JWT, then the Redis
// whitelist, then (admin routes) the role check, then the handler.
func RegisterEvents(r fiber.Router, h *Events, auth Authn) {
	r.Get("/auth/events", auth.JWT, auth.Whitelist, h.listMine)
	r.Get("/users/:id/events", auth.JWT, auth.Whitelist, middleware.RequireRole(models.RoleAdmin), h.listUser)
	r.Get("/events", auth.JWT, auth.Whitelist, middleware.RequireRole(models.RoleAdmin), h.listAll)
}

type eventListJSON struct {
	Items      []*models.Event `json:"items"`
	PerPage    int             `json:"per_page"`
	NextCursor *string         `json:"next_cursor"`
}

// listMine handles GET /auth/events: the caller's own events, newest first.
func (h *Events) listMine(c *fiber.Ctx) error {
	return h.list(c, middleware.PrincipalOf(c).UserID)
}

// listUser handles GET /users/{id}/events (admin): one user's events, newest first. A user
// that no longer exists (or never did) has an empty or partial list, not a 404: events outlive
// accounts.
func (h *Events) listUser(c *fiber.Ctx) error {
	id, err := pathUUID(c, "id", "user id")
	if err != nil {
		return err
	}
	return h.list(c, id)
}

// listAll handles GET /events?type=&since=&until= (admin): everyone's events, newest first.
func (h *Events) listAll(c *fiber.Ctx) error { return h.list(c, uuid.Nil) }

// list reads the query (cursor, per_page, type, since, until; each at most once) and answers a
// page of the events of userID (uuid.Nil: everyone's).
func (h *Events) list(c *fiber.Ctx, userID uuid.UUID) error {
	perPage, err := intQuery(c, "per_page", 20)
	if err != nil {
		return err
	}
	perPage = min(max(perPage, 1), h.MaxPageSize)
	f := models.EventFilter{UserID: userID}
	rawType, err := singleQuery(c, "type")
	if err != nil {
		return err
	}
	if rawType != "" {
		if f.Type, err = models.ParseEventType(rawType); err != nil {
			return err
		}
	}
	if f.Since, err = timeQuery(c, "since"); err != nil {
		return err
	}
	if f.Until, err = timeQuery(c, "until"); err != nil {
		return err
	}
	var cursor *models.Cursor
	rawCursor, err := singleQuery(c, "cursor")
	if err != nil {
		return err
	}
	if rawCursor != "" {
		cur, err := decodeCursor(rawCursor)
		if err != nil {
			return err
		}
		cursor = &cur
	}
	page, err := h.Store.List(c.UserContext(), f, cursor, perPage)
	if err != nil {
		return err
	}
	out := eventListJSON{Items: make([]*models.Event, len(page.Events)), PerPage: perPage}
	for i := range page.Events {
		out.Items[i] = &page.Events[i]
	}
	if page.Next != nil {
		next := encodeCursor(*page.Next)
		out.NextCursor = &next
	}
	return c.JSON(out)
}

// timeQuery reads an RFC 3339 instant; absent or empty is the zero time. Anything else, or a
// year outside 1..9999 (which Postgres or RFC 3339 cannot hold), is a 400.
func timeQuery(c *fiber.Ctx, name string) (time.Time, error) {
	raw, err := singleQuery(c, name)
	if err != nil || raw == "" {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, raw)
	if err != nil {
		return time.Time{}, models.Errorf(models.CodeValidation, "%s must be an RFC 3339 time", name)
	}
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return time.Time{}, models.Errorf(models.CodeValidation, "%s is out of range", name)
	}
	return t.UTC(), nil
}
