package routes

import (
	"context"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
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
}

type healthJSON struct {
	Status   string `json:"status"`
	Postgres *bool  `json:"postgres,omitempty"`
	Redis    *bool  `json:"redis,omitempty"`
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
	return h.answer(c, true)
}

// livez handles GET /livez: 200 while the process serves; it touches no dependency, so a
// dependency outage never restarts the pods.
func (h *Health) livez(c *fiber.Ctx) error {
	return c.JSON(healthJSON{Status: "ok"})
}

// readyz handles GET /readyz: as /healthz, and 503 before migrations are applied and from the
// moment shutdown begins.
func (h *Health) readyz(c *fiber.Ctx) error {
	return h.answer(c, h.Ready())
}

func (h *Health) answer(c *fiber.Ctx, ready bool) error {
	pgOK, redisOK := h.check(c.UserContext())
	if pgOK && redisOK && ready {
		return c.JSON(healthJSON{Status: "ok"})
	}
	status := "degraded"
	if !ready {
		status = "not_ready"
	}
	return c.Status(fiber.StatusServiceUnavailable).JSON(healthJSON{Status: status, Postgres: &pgOK, Redis: &redisOK})
}

func (h *Health) check(ctx context.Context) (pgOK, redisOK bool) {
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); pgOK = h.PingPostgres(ctx) == nil }()
	go func() { defer wg.Done(); redisOK = h.PingRedis(ctx) == nil }()
	wg.Wait()
	return pgOK, redisOK
}
