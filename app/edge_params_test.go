package app_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/example/authapi/models"
)

func cursorOf(json string) string { return base64.RawURLEncoding.EncodeToString([]byte(json)) }

// A cursor that decodes but names a value Postgres refuses, or an id that is not a UUID, is the
// same 400 as one that does not decode: never a 500.
func TestCursorOutOfRange(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	admin := e.newAdmin()
	id := uuid.NewString()
	for name, raw := range map[string]string{
		"year 0 through offset":     `{"t":"0001-01-01T00:00:00+01:00","id":"` + id + `"}`,
		"year 0":                    `{"t":"0000-06-01T00:00:00Z","id":"` + id + `"}`,
		"year 10000 through offset": `{"t":"9999-12-31T23:00:00-05:00","id":"` + id + `"}`,
		"not a timestamp":           `{"t":"yesterday","id":"` + id + `"}`,
		"timestamp a number":        `{"t":0,"id":"` + id + `"}`,
		"id not a uuid":             `{"t":"2026-01-01T00:00:00Z","id":"1 OR 1=1"}`,
		"id braces":                 `{"t":"2026-01-01T00:00:00Z","id":"{` + id + `}"}`,
		"id urn":                    `{"t":"2026-01-01T00:00:00Z","id":"urn:uuid:` + id + `"}`,
		"id nil":                    `{"t":"2026-01-01T00:00:00Z","id":"00000000-0000-0000-0000-000000000000"}`,
		"id missing":                `{"t":"2026-01-01T00:00:00Z"}`,
		"id null":                   `{"t":"2026-01-01T00:00:00Z","id":null}`,
		"duplicate name":            `{"t":"2026-01-01T00:00:00Z","id":"` + id + `","id":"` + uuid.NewString() + `"}`,
		"trailing data":             `{"t":"2026-01-01T00:00:00Z","id":"` + id + `"}]`,
		"nul in id":                 `{"t":"2026-01-01T00:00:00Z","id":"` + id + `\u0000"}`,
		"array":                     `[]`,
	} {
		resp := e.client.Get("/users?cursor="+cursorOf(raw), admin)
		if msg := wantError(t, resp, http.StatusBadRequest, "validation_error"); msg != "validation error: invalid cursor" {
			t.Fatalf("%s: %q", name, msg)
		}
	}
	// The extremes Postgres does accept still work.
	for _, ts := range []string{"0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"} {
		if resp := e.client.Get("/users?cursor="+cursorOf(`{"t":"`+ts+`","id":"`+id+`"}`), admin); resp.Status != http.StatusOK {
			t.Fatalf("cursor at %s: %d %s", ts, resp.Status, resp.Body)
		}
	}
}

// page and per_page: huge numbers clamp, a repeated parameter (which a proxy may read
// differently) is a 400, and nothing is a 500.
func TestPageParameters(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	admin := e.newAdmin()
	for _, q := range []string{
		"page=99999999999999999999999", "page=-99999999999999999999999", "per_page=99999999999999999999",
		"page=9223372036854775807&per_page=100", "page=2147483648&per_page=2147483648", "page=007",
	} {
		if resp := e.client.Get("/users?"+q, admin); resp.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", q, resp.Status, resp.Body)
		}
	}
	c := cursorOf(`{"t":"2026-01-01T00:00:00Z","id":"` + uuid.NewString() + `"}`)
	for _, q := range []string{
		"page=1&page=2", "per_page=1&per_page=100", "cursor=" + c + "&cursor=" + c, "page=0x10", "page=%00", "page=%2B3", "page=%2B99999999999999999999", "per_page=1%0a2",
		"page=" + url.QueryEscape("１"), // a fullwidth digit
	} {
		wantError(t, e.client.Get("/users?"+q, admin), http.StatusBadRequest, "validation_error")
	}
}

// A Postgres data exception (SQLSTATE class 22) that gets past validation is the client's 400,
// not a 500: the store is called directly with a timestamp Postgres refuses.
func TestDataExceptionIsValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	yearZero := time.Date(0, 6, 1, 0, 0, 0, 0, time.UTC)
	_, err := e.users.ListAfter(context.Background(), &models.Cursor{CreatedAt: yearZero, ID: uuid.New()}, 10)
	if models.ErrorCode(err) != models.CodeValidation {
		t.Fatalf("year 0 in a query: %v, want a validation error", err)
	}
	if msg := models.PublicMessage(err); msg != "validation error: invalid value" {
		t.Fatalf("message %q names more than the kind", msg)
	}
	// NUL never reaches the SQL text, where Bun would drop it.
	for _, email := range []string{"a\x00@example.com", "a\xff@example.com"} {
		if _, err := e.users.EmailExists(context.Background(), email); models.ErrorCode(err) != models.CodeValidation {
			t.Fatalf("EmailExists(%q): %v", email, err)
		}
		if _, err := e.users.SetRole(context.Background(), email, models.RoleAdmin); models.ErrorCode(err) != models.CodeValidation {
			t.Fatalf("SetRole(%q): %v", email, err)
		}
	}
}
