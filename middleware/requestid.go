// Package middleware holds the Fiber middleware of the service; each constructor returns a
// fiber.Handler and takes its dependencies as arguments.
package middleware

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync/atomic"

	"github.com/gofiber/fiber/v2"
)

// HeaderRequestID carries the request id in both directions.
const HeaderRequestID = "X-Request-ID"

type localKey int

const (
	requestIDKey localKey = iota
	principalKey
	logLevelKey
)

// RequestID makes sure every request has an id: the caller's X-Request-ID when it is 1 to 128
// printable ASCII characters, else a new one. The id is echoed in the response and kept for
// logs and error bodies.
//
// A new id is a random prefix drawn once per process plus a counter ("3f9c…e1-2a"): unique
// across instances for all practical purposes, and no random read per request (a UUID from
// crypto/rand was ~2% of GET /auth/me).
func RequestID() fiber.Handler {
	return func(c *fiber.Ctx) error {
		assignRequestID(c, processIDs.next)
		return c.Next()
	}
}

// processIDs numbers the requests of this process, for every listener and for the responses no
// middleware saw (RequestIDOf). Package state on purpose: the prefix means "this process", so
// one source per process is the point, and it holds nothing but a counter.
var processIDs = newIDSource()

// idSource numbers the requests of one process.
type idSource struct {
	prefix string
	n      atomic.Uint64
}

func newIDSource() *idSource {
	var prefix [8]byte
	_, _ = rand.Read(prefix[:]) // crypto/rand.Read does not fail on Linux
	return &idSource{prefix: hex.EncodeToString(prefix[:]) + "-"}
}

func (s *idSource) next() string {
	var buf [40]byte
	b := append(buf[:0], s.prefix...)
	return string(strconv.AppendUint(b, s.n.Add(1), 36))
}

// RequestIDOf returns the request's id, assigning it (and the response header) on first use.
// The error handler calls it too, for responses that no middleware saw (413 on an oversized
// body, 431 on oversized headers): those get an id of the same form as every other.
func RequestIDOf(c *fiber.Ctx) string {
	return assignRequestID(c, processIDs.next)
}

func assignRequestID(c *fiber.Ctx, newID func() string) string {
	if id, ok := c.Locals(requestIDKey).(string); ok {
		return id
	}
	raw := c.Request().Header.Peek(HeaderRequestID)
	var id string
	if validRequestID(raw) {
		id = string(raw) // a copy: the header buffer is reused after the request
	} else {
		id = newID()
	}
	c.Locals(requestIDKey, id)
	c.Response().Header.Set(HeaderRequestID, id)
	return id
}

func validRequestID(id []byte) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for _, b := range id {
		if b < 0x20 || b > 0x7e {
			return false
		}
	}
	return true
}
