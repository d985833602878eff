package middleware

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"github.com/gofiber/fiber/v2"
)

// AccessLog writes one structured line per request: id, method, route template, status,
// duration and client address. It never logs headers or bodies, so no password, token or hash
// can reach the log through it. clientIP names the client (see ClientIP), so an address forged
// in X-Forwarded-For does not end up in the log as the client's.
func AccessLog(logger *slog.Logger, clientIP func(*fiber.Ctx) netip.Addr) fiber.Handler {
	routes := &endpoints{}
	return func(c *fiber.Ctx) error {
		start := time.Now()
		err := c.Next()
		status := c.Response().StatusCode()
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		if l, ok := c.Locals(logLevelKey).(slog.Level); ok {
			level = l // the handler expected this answer (see LogLevel)
		}
		ctx := context.Background()
		if !logger.Enabled(ctx, level) {
			return err
		}
		// A record built here (pc 0) skips the runtime.Callers that Logger.LogAttrs pays on
		// every request for a source location this log never prints: ~1% of /auth/me's CPU.
		// One clock read serves both the record's time and the duration.
		end := time.Now()
		record := slog.NewRecord(end, level, "request", 0)
		record.AddAttrs(
			slog.String("request_id", RequestIDOf(c)),
			slog.String("method", Method(c)),
			slog.String("route", routes.template(c)),
			// c.Path() points into fasthttp's buffer: fine, the handler is synchronous and
			// has copied it into the log line before this middleware returns.
			slog.String("path", c.Path()),
			slog.Int("status", status),
			slog.Duration("duration", end.Sub(start)),
			slog.String("ip", clientIP(c).String()),
		)
		_ = logger.Handler().Handle(ctx, record) // a failed log write must not fail the request
		return err
	}
}

// LogLevel sets the level of this request's access log line, for a handler whose 5xx is the
// expected answer rather than a fault: /readyz's 503 while the service starts or shuts down.
func LogLevel(c *fiber.Ctx, level slog.Level) {
	c.Locals(logLevelKey, level)
}
