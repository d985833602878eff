// Package middleware holds the Fiber middleware of the service; each constructor returns a
// fiber.Handler and takes its dependencies as arguments.
package middleware

import (
	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
)

// HeaderRequestID carries the request id in both directions.
const HeaderRequestID = "X-Request-ID"

type localKey int

const (
	requestIDKey localKey = iota
	principalKey
)

// RequestID makes sure every request has an id: the caller's X-Request-ID when it is 1 to 128
// printable ASCII characters, else a new UUID. The id is echoed in the response and kept for
// logs and error bodies.
func RequestID() fiber.Handler {
	return func(c *fiber.Ctx) error {
		RequestIDOf(c)
		return c.Next()
	}
}

// RequestIDOf returns the request's id, assigning it (and the response header) on first use.
// The error handler calls it too, for responses that no middleware saw (413 on an oversized body).
func RequestIDOf(c *fiber.Ctx) string {
	if id, ok := c.Locals(requestIDKey).(string); ok {
		return id
	}
	id := c.Get(HeaderRequestID)
	if validRequestID(id) {
		id = string([]byte(id)) // copy: the header buffer is reused after the request
	} else {
		id = uuid.NewString()
	}
	c.Locals(requestIDKey, id)
	c.Set(HeaderRequestID, id)
	return id
}

func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x20 || id[i] > 0x7e {
			return false
		}
	}
	return true
}
