package routes

import (
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/example/authapi/middleware"
	"github.com/example/authapi/models"
)

// Sessions serves the device list: the caller's sessions under /auth/sessions and, for admins,
// anyone's under /users/{id}/sessions.
type Sessions struct {
	Sessions *models.Sessions
	Users    models.UserStore
	Events   AuthEvents
	// ClientAddr names the client in audit events (see middleware.ClientAddr).
	ClientAddr func(*fiber.Ctx) string
}

// RegisterSessions mounts the session routes, each with its whole chain: JWT, then the Redis
// whitelist, then (admin routes) the role check, then the handler.
func RegisterSessions(r fiber.Router, h *Sessions, auth Authn) {
	r.Get("/auth/sessions", auth.JWT, auth.Whitelist, h.listMine)
	r.Delete("/auth/sessions", auth.JWT, auth.Whitelist, h.revokeOthers)
	r.Delete("/auth/sessions/:id", auth.JWT, auth.Whitelist, h.revokeMine)
	r.Get("/users/:id/sessions", auth.JWT, auth.Whitelist, middleware.RequireRole(models.RoleAdmin), h.listUser)
	r.Delete("/users/:id/sessions", auth.JWT, auth.Whitelist, middleware.RequireRole(models.RoleAdmin), h.revokeUser)
}

type sessionJSON struct {
	ID         string `json:"id"`
	CreatedAt  string `json:"created_at"`
	LastUsedAt string `json:"last_used_at"`
	ExpiresAt  string `json:"expires_at"`
	IP         string `json:"ip"`
	UserAgent  string `json:"user_agent"`
	Current    bool   `json:"current"`
}

type sessionListJSON struct {
	Items []sessionJSON `json:"items"`
}

func (h *Sessions) listJSON(list []models.Session, current string) sessionListJSON {
	return sessionListJSON{Items: sessionsJSON(list, current, h.Sessions.Options().IdleTimeout)}
}

// sessionsJSON is the wire shape of sessions; current names the caller's.
func sessionsJSON(list []models.Session, current string, idle time.Duration) []sessionJSON {
	out := make([]sessionJSON, 0, len(list))
	for i := range list {
		s := &list[i]
		id := s.ID.String()
		out = append(out, sessionJSON{
			ID:         id,
			CreatedAt:  s.CreatedAt.UTC().Format(time.RFC3339Nano),
			LastUsedAt: s.LastUsedAt.UTC().Format(time.RFC3339Nano),
			ExpiresAt:  s.EndsAt(idle).UTC().Format(time.RFC3339Nano),
			IP:         s.IP,
			UserAgent:  s.UserAgent,
			Current:    id == current,
		})
	}
	return out
}

// listMine handles GET /auth/sessions: the caller's live sessions, most recently used first.
func (h *Sessions) listMine(c *fiber.Ctx) error {
	p := middleware.PrincipalOf(c)
	list, err := h.Sessions.List(c.UserContext(), p.UserID)
	if err != nil {
		return err
	}
	return c.JSON(h.listJSON(list, p.SessionID))
}

// revokeMine handles DELETE /auth/sessions/{id}: that session of the caller ends. Any id that
// is not one of the caller's live sessions is the same 404, so nobody learns of another's.
func (h *Sessions) revokeMine(c *fiber.Ctx) error {
	p := middleware.PrincipalOf(c)
	sid, err := pathUUID(c, "id", "session id")
	if err != nil {
		return err
	}
	ev := auditEvent(c, h.ClientAddr, models.EventSessionRevoked, nil)
	ev.SessionID = &sid
	if err := h.Sessions.Revoke(c.UserContext(), p.UserID, sid, models.EndRevoked, ev); err != nil {
		return err
	}
	h.Events("session_revoke", "success")
	return c.SendStatus(fiber.StatusNoContent)
}

// revokeOthers handles DELETE /auth/sessions: every session of the caller but the current one.
func (h *Sessions) revokeOthers(c *fiber.Ctx) error {
	p := middleware.PrincipalOf(c)
	keep, err := uuid.Parse(p.SessionID)
	if err != nil {
		return models.Errorf(models.CodeUnauthorized, "invalid token")
	}
	ev := auditEvent(c, h.ClientAddr, models.EventSessionRevoked, map[string]any{"all_but_current": true})
	if _, err := h.Sessions.RevokeAll(c.UserContext(), p.UserID, keep, models.EndRevoked, ev); err != nil {
		if models.ErrorCode(err) == models.CodeNotFound {
			return models.Errorf(models.CodeUnauthorized, "user no longer exists")
		}
		return err
	}
	h.Events("session_revoke_others", "success")
	return c.SendStatus(fiber.StatusNoContent)
}

// userOf reads the {id} of an admin route and checks that the user exists (404 otherwise).
func (h *Sessions) userOf(c *fiber.Ctx) (uuid.UUID, error) {
	id, err := pathUUID(c, "id", "user id")
	if err != nil {
		return uuid.Nil, err
	}
	if _, err := h.Users.ByID(c.UserContext(), id); err != nil {
		return uuid.Nil, err
	}
	return id, nil
}

// listUser handles GET /users/{id}/sessions (admin): the user's live sessions.
func (h *Sessions) listUser(c *fiber.Ctx) error {
	id, err := h.userOf(c)
	if err != nil {
		return err
	}
	list, err := h.Sessions.List(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(h.listJSON(list, ""))
}

// revokeUser handles DELETE /users/{id}/sessions (admin): every session of the user ends.
func (h *Sessions) revokeUser(c *fiber.Ctx) error {
	id, err := h.userOf(c)
	if err != nil {
		return err
	}
	ev := auditEvent(c, h.ClientAddr, models.EventSessionRevoked, map[string]any{"all": true})
	ev.SessionID = nil // the admin's own session is not the one that ended
	if _, err := h.Sessions.RevokeAll(c.UserContext(), id, uuid.Nil, models.EndAdmin, ev); err != nil {
		return err
	}
	h.Events("session_revoke_user", "success")
	return c.SendStatus(fiber.StatusNoContent)
}

// pathUUID reads a path parameter that must be a UUID (400 otherwise, never a 500 or a 404).
func pathUUID(c *fiber.Ctx, name, what string) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Params(name))
	if err != nil {
		return uuid.Nil, models.Errorf(models.CodeValidation, "%s is not a UUID", what)
	}
	return id, nil
}
