package app

import (
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/pprof"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/example/authapi/routes"
)

// newAdminApp builds the admin listener: /metrics, the probes, and /debug/pprof/ when enabled.
// None of it is mounted on the public listener.
func (a *App) newAdminApp() *fiber.App {
	f := a.newFiber(false)
	routes.RegisterAdminHealth(f, a.health())
	f.Get("/metrics", adaptor.HTTPHandler(promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{})))
	if a.cfg.Admin.EnablePprof {
		f.Use(pprof.New())
	}
	return f
}

// registerRedisPoolStats exports go-redis pool stats read at scrape time: connection counts as
// gauges, and the ever-growing hit, miss and timeout counts as counters (so rate() applies).
func registerRedisPoolStats(reg prometheus.Registerer, rdb redis.UniversalClient) {
	gauge := func(name, help string, read func(*redis.PoolStats) uint32) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
			func() float64 { return float64(read(rdb.PoolStats())) }))
	}
	counter := func(name, help string, read func(*redis.PoolStats) uint32) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(read(rdb.PoolStats())) }))
	}
	gauge("redis_pool_total_connections", "Connections in the Redis pool.", func(s *redis.PoolStats) uint32 { return s.TotalConns })
	gauge("redis_pool_idle_connections", "Idle connections in the Redis pool.", func(s *redis.PoolStats) uint32 { return s.IdleConns })
	counter("redis_pool_hits_total", "Times a free connection was found in the Redis pool.", func(s *redis.PoolStats) uint32 { return s.Hits })
	counter("redis_pool_misses_total", "Times no free connection was found in the Redis pool.", func(s *redis.PoolStats) uint32 { return s.Misses })
	counter("redis_pool_timeouts_total", "Times a wait for a Redis connection timed out.", func(s *redis.PoolStats) uint32 { return s.Timeouts })
}
