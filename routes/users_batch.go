package routes

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"sync"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/example/authapi/models"
)

type batchFailureJSON struct {
	Index int    `json:"index"`
	Email string `json:"email"`
	Error string `json:"error"`
}

type batchJSON struct {
	Created []userJSON         `json:"created"`
	Errors  []string           `json:"errors"`
	Failed  []batchFailureJSON `json:"failed"`
}

// batchResult is the outcome of one item: a user, or an error.
type batchResult struct {
	email    string
	password string
	user     *models.User
	err      error
}

// batch handles POST /users/batch: each item is validated, hashed and inserted on its own, at
// most BatchLimit at once; results keep input order. Users made here are active.
func (h *Users) batch(c *fiber.Ctx) error {
	// The raw body, never c.Body(): that one inflates any Content-Encoding without a limit.
	items, err := decodeBatch(c.Request().Body(), h.BatchMaxItems)
	if err != nil {
		return err
	}
	results := make([]batchResult, len(items))
	// Decide duplicates up front, in input order: the first of an email is tried, the others
	// fail, whatever order the concurrent inserts finish in.
	firstOf := make(map[string]int, len(items))
	for i, item := range items {
		results[i] = h.prepare(item)
		if results[i].err != nil {
			continue
		}
		if _, seen := firstOf[results[i].email]; seen {
			results[i].err = models.Errorf(models.CodeConflict, "email already exists")
			continue
		}
		firstOf[results[i].email] = i
	}
	h.createAll(c.UserContext(), items, results, auditEvent(c, h.ClientAddr, models.EventUserRegistered, map[string]any{"via": "batch"}))

	out := batchJSON{Created: []userJSON{}, Errors: []string{}, Failed: []batchFailureJSON{}}
	unavailable := 0
	for i, r := range results {
		if r.err == nil {
			out.Created = append(out.Created, newUserJSON(r.user))
			continue
		}
		if models.ErrorCode(r.err) == models.CodeUnavailable {
			unavailable++
		}
		msg := models.PublicMessage(r.err)
		out.Errors = append(out.Errors, msg)
		out.Failed = append(out.Failed, batchFailureJSON{Index: i, Email: r.email, Error: msg})
	}
	// Nothing was created and a dependency was down: that is an outage, not a batch result.
	if len(out.Created) == 0 && unavailable > 0 {
		for _, r := range results {
			if models.ErrorCode(r.err) == models.CodeUnavailable {
				return r.err
			}
		}
	}
	return c.JSON(out)
}

// prepare decodes and validates one item; email is normalised when valid, else as sent.
func (h *Users) prepare(item jsontext.Value) batchResult {
	in, err := decodeCredentialsValue(item)
	if err != nil {
		return batchResult{err: err}
	}
	email, password, err := in.fields()
	if err != nil {
		return batchResult{email: email, err: err}
	}
	normalized, err := models.ValidateCredentials(email, password)
	if err != nil {
		if models.ErrorCode(err) == models.CodeValidation && models.ValidateEmail(normalized) != nil {
			return batchResult{email: email, err: err}
		}
		return batchResult{email: normalized, err: err}
	}
	return batchResult{email: normalized, password: password}
}

// createAll checks, hashes and inserts every prepared item, BatchLimit at a time; an email
// that exists already is a conflict before any bcrypt is spent on it. Each user is written with
// its user.registered event (ev, the admin as actor).
func (h *Users) createAll(ctx context.Context, items []jsontext.Value, results []batchResult, ev *models.Event) {
	slots := make(chan struct{}, h.BatchLimit)
	var wg sync.WaitGroup
	for i := range items {
		if results[i].err != nil {
			continue
		}
		wg.Add(1)
		slots <- struct{}{}
		go func(r *batchResult) {
			defer func() { <-slots; wg.Done() }()
			// Checked before hashing, as register does: an existing email is a conflict under
			// any load and costs no bcrypt slot; the unique index still decides races.
			taken, err := h.Store.EmailExists(ctx, r.email)
			if err != nil {
				r.err = err
				return
			}
			if taken {
				r.err = models.Errorf(models.CodeConflict, "email already exists")
				return
			}
			hash, err := h.Hasher.Hash(ctx, r.password)
			if err != nil {
				r.err = err
				return
			}
			u := &models.User{Email: r.email, PasswordHash: hash, Status: models.StatusActive, Role: models.RoleUser}
			if r.err = h.Accounts.Create(ctx, u, ev); r.err == nil {
				r.user = u
			}
		}(&results[i])
	}
	wg.Wait()
}

// cursorJSON is the decoded form of next_cursor. It is base64url-encoded JSON: opaque to
// clients, easy to evolve.
type cursorJSON struct {
	CreatedAt time.Time `json:"t"`
	ID        uuid.UUID `json:"id"`
}

func encodeCursor(c models.Cursor) string {
	raw, _ := json.Marshal(cursorJSON{CreatedAt: c.CreatedAt.UTC(), ID: c.ID})
	return base64.RawURLEncoding.EncodeToString(raw)
}

// decodeCursor reads a cursor strictly: it must decode, and what it decodes to must be a
// value Postgres accepts, so a forged cursor is a 400 and never reaches the query as a
// timestamp Postgres refuses (year 0 is a 500 there) or an id that is not a UUID.
func decodeCursor(s string) (models.Cursor, error) {
	bad := models.Errorf(models.CodeValidation, "invalid cursor")
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return models.Cursor{}, bad
	}
	v, err := decodeValue(raw)
	if err != nil {
		return models.Cursor{}, bad
	}
	fields, err := decodeObjectFields(v, "t", "id")
	if err != nil || fields["t"] == nil || fields["id"] == nil {
		return models.Cursor{}, bad
	}
	createdAt, err := time.Parse(time.RFC3339Nano, *fields["t"])
	if err != nil {
		return models.Cursor{}, bad
	}
	createdAt = createdAt.UTC()
	// The years every layer agrees on: Postgres refuses year 0 (which a year-1 time with a
	// positive offset is in UTC), and 9999 is the last year RFC 3339 can write.
	if y := createdAt.Year(); y < 1 || y > 9999 {
		return models.Cursor{}, bad
	}
	// Only the canonical form: uuid.Parse also takes braces, urn:uuid: and bare hex.
	id, err := uuid.Parse(*fields["id"])
	if err != nil || len(*fields["id"]) != 36 || id == uuid.Nil {
		return models.Cursor{}, bad
	}
	return models.Cursor{CreatedAt: createdAt, ID: id}, nil
}
