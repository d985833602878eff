package routes

import (
	"bytes"
	"errors"
	"strconv"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/gofiber/fiber/v2"

	"github.com/example/authapi/middleware"
	"github.com/example/authapi/models"
)

// Users serves /users/* for admins.
type Users struct {
	Store         models.UserStore
	Hasher        *models.Hasher
	MaxPageSize   int
	BatchLimit    int
	BatchMaxItems int
	// Accounts writes batch users with their audit events.
	Accounts *models.AccountStore
	// ClientAddr names the client in audit events (see middleware.ClientAddr).
	ClientAddr func(*fiber.Ctx) string
}

// RegisterUsers mounts the admin routes: JWT, then the Redis whitelist, then the admin role
// check, then the handler. The chain is attached to each endpoint rather than to the group
// with Group(prefix, handlers...), so that a request refused by the chain is still labelled
// with its endpoint's template in metrics and logs.
func RegisterUsers(r fiber.Router, h *Users, auth Authn) {
	g := r.Group("/users")
	g.Get("/", auth.JWT, auth.Whitelist, middleware.RequireRole(models.RoleAdmin), h.list)
	g.Get("/stats", auth.JWT, auth.Whitelist, middleware.RequireRole(models.RoleAdmin), h.stats)
	g.Post("/batch", auth.JWT, auth.Whitelist, middleware.RequireRole(models.RoleAdmin), middleware.RequireJSON(), h.batch)
}

type listJSON struct {
	Items      []userJSON `json:"items"`
	Page       int        `json:"page"`
	PerPage    int        `json:"per_page"`
	Total      int64      `json:"total"`
	NextCursor *string    `json:"next_cursor"`
}

// list handles GET /users: offset pages (page, per_page) or, with cursor, keyset pages whose
// cost does not grow with depth.
func (h *Users) list(c *fiber.Ctx) error {
	page, err := intQuery(c, "page", 1)
	if err != nil {
		return err
	}
	perPage, err := intQuery(c, "per_page", 20)
	if err != nil {
		return err
	}
	page = max(page, 1)
	perPage = min(max(perPage, 1), h.MaxPageSize)
	ctx := c.UserContext()

	var result models.Page
	rawCursor, err := singleQuery(c, "cursor")
	if err != nil {
		return err
	}
	if rawCursor != "" {
		cursor, err := decodeCursor(rawCursor)
		if err != nil {
			return err
		}
		page = 0 // the contract's marker for a cursor page
		result, err = h.Store.ListAfter(ctx, &cursor, perPage)
		if err != nil {
			return err
		}
	} else {
		if result, err = h.Store.ListOffset(ctx, (page-1)*perPage, perPage); err != nil {
			return err
		}
	}
	stats, err := h.Store.Stats(ctx)
	if err != nil {
		return err
	}
	out := listJSON{Items: make([]userJSON, len(result.Users)), Page: page, PerPage: perPage, Total: stats.Total}
	for i := range result.Users {
		out.Items[i] = newUserJSON(&result.Users[i])
	}
	if result.Next != nil {
		next := encodeCursor(*result.Next)
		out.NextCursor = &next
	}
	return c.JSON(out)
}

// singleQuery returns a query parameter given at most once. A repeated one (page=1&page=2) is
// a 400: a proxy or log that reads the last value would see another request than this one,
// which would read the first.
func singleQuery(c *fiber.Ctx, name string) (string, error) {
	values := c.Context().QueryArgs().PeekMulti(name)
	switch len(values) {
	case 0:
		return "", nil
	case 1:
		return string(values[0]), nil
	}
	return "", models.Errorf(models.CodeValidation, "%s must be given once", name)
}

// intQuery reads an integer query parameter; absent or empty gives def, anything that is not an
// integer as the document writes it (-?[0-9]+: no "+", no spaces) is a 400, and an integer too
// large for int is clamped.
func intQuery(c *fiber.Ctx, name string, def int) (int, error) {
	raw, err := singleQuery(c, name)
	if err != nil || raw == "" {
		return def, err
	}
	n, err := strconv.Atoi(raw)
	if err == nil && raw[0] == '+' {
		err = strconv.ErrSyntax
	}
	if err != nil {
		if errors.Is(err, strconv.ErrRange) && raw[0] != '+' {
			// An integer, only a huge one: clamp rather than refuse.
			if raw[0] == '-' {
				return -1 << 31, nil
			}
			return 1 << 31, nil
		}
		return 0, models.Errorf(models.CodeValidation, "%s must be an integer", name)
	}
	return n, nil
}

type statsJSON struct {
	Total     int64 `json:"total"`
	Active    int64 `json:"active"`
	Suspended int64 `json:"suspended"`
	Pending   int64 `json:"pending"`
}

// stats handles GET /users/stats: exact counts by status.
func (h *Users) stats(c *fiber.Ctx) error {
	st, err := h.Store.Stats(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(statsJSON{Total: st.Total, Active: st.Active, Suspended: st.Suspended, Pending: st.Pending})
}

// decodeBatch reads the body of POST /users/batch: a JSON array of objects, at most max items,
// read as strictly as any body (see decodeValue: a duplicate name inside an item refuses the
// whole request). Anything else is a 400 for the whole request.
func decodeBatch(body []byte, maxItems int) ([]jsontext.Value, error) {
	v, err := decodeValue(body)
	if err != nil {
		return nil, err
	}
	if v.Kind() != '[' {
		return nil, models.Errorf(models.CodeValidation, "request body must be a JSON array")
	}
	dec := jsontext.NewDecoder(bytes.NewReader(v))
	if _, err := dec.ReadToken(); err != nil { // '['
		return nil, syntaxError(err)
	}
	items := []jsontext.Value{}
	for dec.PeekKind() != ']' {
		item, err := dec.ReadValue()
		if err != nil {
			return nil, syntaxError(err)
		}
		if len(items) == maxItems {
			return nil, models.Errorf(models.CodeValidation, "too many items (max %d)", maxItems)
		}
		if item.Kind() != '{' {
			return nil, models.Errorf(models.CodeValidation, "item %d must be a JSON object", len(items))
		}
		items = append(items, item.Clone())
	}
	return items, nil
}
