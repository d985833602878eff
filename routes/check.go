package routes

import (
	"encoding/hex"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/example/authapi/middleware"
	"github.com/example/authapi/models"
)

// The identity headers of GET /auth/check, for a gateway to pass on to its upstream.
const (
	HeaderAuthUserID    = "X-Auth-User-Id"
	HeaderAuthUserRole  = "X-Auth-User-Role"
	HeaderAuthSessionID = "X-Auth-Session-Id"
)

// RegisterCheck mounts GET (and HEAD) /auth/check, the gateways' question "may this request
// through?" (nginx auth_request, Traefik forwardAuth, Envoy ext_authz). Its chain is that of
// every protected route, so its 401s and 503s are theirs; it reads nothing from Postgres.
func RegisterCheck(r fiber.Router, auth Authn) {
	r.Get("/auth/check", auth.JWT, auth.Whitelist, check)
}

// check handles GET /auth/check: 204 with the caller's identity in X-Auth-* headers; with
// ?role=admin (or user), 403 for a token of another role; 400 for a role that does not exist.
func check(c *fiber.Ctx) error {
	p := middleware.PrincipalOf(c)
	if want := c.Query("role"); want != "" {
		role := models.Role(want)
		if role != models.RoleAdmin && role != models.RoleUser {
			return models.Errorf(models.CodeValidation, "role must be user or admin")
		}
		if p.Role != role {
			return models.Errorf(models.CodeForbidden, "%s role required", role)
		}
	}
	var id [36]byte
	encodeUUID(&id, p.UserID)
	h := &c.Response().Header
	h.SetBytesV(HeaderAuthUserID, id[:]) // copied: no allocation for the id's text
	h.Set(HeaderAuthUserRole, string(p.Role))
	h.Set(HeaderAuthSessionID, p.SessionID)
	return c.SendStatus(fiber.StatusNoContent)
}

// encodeUUID writes u's canonical text into dst, as u.String() would into a new string.
func encodeUUID(dst *[36]byte, u uuid.UUID) {
	hex.Encode(dst[0:8], u[0:4])
	dst[8] = '-'
	hex.Encode(dst[9:13], u[4:6])
	dst[13] = '-'
	hex.Encode(dst[14:18], u[6:8])
	dst[18] = '-'
	hex.Encode(dst[19:23], u[8:10])
	dst[23] = '-'
	hex.Encode(dst[24:], u[10:])
}
