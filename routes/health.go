package routes

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/example/authapi/middleware"
)

// Health answers the probes. Postgres and Redis are pinged concurrently under one short
// deadline, so a hung dependency cannot hang a probe.
type Health struct {
	PingPostgres func(context.Context) error
	PingRedis    func(context.Context) error
	Timeout      time.Duration
	// Ready reports whether the service may take traffic: migrations applied and not shutting
	// down.
	Ready func() bool
	// Warnings lists what /readyz reports without failing on (e.g. a Redis that may evict
	// keys); nil for none. It may be nil.
	Warnings func(context.Context) []string
}

type healthJSON struct {
	Status   string   `json:"status"`
	Postgres *bool    `json:"postgres,omitempty"`
	Redis    *bool    `json:"redis,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// RegisterPublicHealth mounts GET /healthz on the public listener.
func RegisterPublicHealth(r fiber.Router, h *Health) {
	r.Get("/healthz", h.healthz)
}

// RegisterAdminHealth mounts the probes of the admin listener: /healthz, /livez, /readyz.
func RegisterAdminHealth(r fiber.Router, h *Health) {
	r.Get("/healthz", h.healthz)
	r.Get("/livez", h.livez)
	r.Get("/readyz", h.readyz)
}

// healthz handles GET /healthz: 200 when Postgres and Redis both answer, else 503 naming them.
func (h *Health) healthz(c *fiber.Ctx) error {
	return h.answer(c, true, false)
}

// livez handles GET /livez: 200 while the process serves; it touches no dependency, so a
// dependency outage never restarts the pods.
func (h *Health) livez(c *fiber.Ctx) error {
	return c.JSON(healthJSON{Status: "ok"})
}

// readyz handles GET /readyz: as /healthz, and 503 before migrations are applied and from the
// moment shutdown begins. Its warnings (a Redis that may evict keys) never change the status.
func (h *Health) readyz(c *fiber.Ctx) error {
	return h.answer(c, h.Ready(), true)
}

func (h *Health) answer(c *fiber.Ctx, ready, withWarnings bool) error {
	pgOK, redisOK, warnings := h.check(c.UserContext(), withWarnings && h.Warnings != nil)
	if pgOK && redisOK && ready {
		return c.JSON(healthJSON{Status: "ok", Warnings: warnings})
	}
	status := "degraded"
	// A dependency down is worth a warning; not ready while starting or shutting down is what
	// the probe is for, so it is logged as the information it is, not as an error.
	level := slog.LevelWarn
	if !ready {
		status, level = "not_ready", slog.LevelInfo
	}
	middleware.LogLevel(c, level)
	return c.Status(fiber.StatusServiceUnavailable).JSON(healthJSON{Status: status, Postgres: &pgOK, Redis: &redisOK, Warnings: warnings})
}

func (h *Health) check(ctx context.Context, withWarnings bool) (pgOK, redisOK bool, warnings []string) {
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); pgOK = h.PingPostgres(ctx) == nil }()
	go func() { defer wg.Done(); redisOK = h.PingRedis(ctx) == nil }()
	if withWarnings {
		wg.Add(1)
		go func() { defer wg.Done(); warnings = h.Warnings(ctx) }()
	}
	wg.Wait()
	return pgOK, redisOK, warnings
}
