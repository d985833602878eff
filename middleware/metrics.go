package middleware

import (
	"strconv"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// UnmatchedRoute is the route label of requests that matched no route: one series for all of
// them, whatever paths scanners try.
const UnmatchedRoute = "unmatched"

// Metrics holds the service's own Prometheus collectors. No label ever holds a user id, email
// or token: routes are templates, events and reasons are fixed words.
type Metrics struct {
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	inFlight   prometheus.Gauge
	authEvents *prometheus.CounterVec
	bcryptWait *prometheus.HistogramVec
	// bcryptChild counts the bcrypt child process's starts and losses.
	bcryptChild *prometheus.CounterVec
	// bcryptRefused counts stored hashes a login refused to run (costlier than BCRYPT_MAX_COST).
	bcryptRefused prometheus.Counter
}

// NewMetrics creates the collectors and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests answered, by method, route template and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by method and route template.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2},
		}, []string{"method", "route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "http_requests_in_flight",
			Help: "HTTP requests being served now.",
		}),
		authEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auth_events_total",
			Help: "Authentication events (login, logout, logout_all, register, token) by result.",
		}, []string{"event", "result"}),
		bcryptWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "bcrypt_queue_wait_seconds",
			Help:    "Time spent waiting for a bcrypt slot, by whether the request was admitted.",
			Buckets: []float64{.0001, .001, .01, .05, .1, .25, .5, 1, 2, 5},
		}, []string{"admitted"}),
		bcryptChild: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bcrypt_child_events_total",
			Help: "Events of the bcrypt child process (started, start_failed, lost); while none runs, hashes run in the service's process.",
		}, []string{"event"}),
		bcryptRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bcrypt_hashes_refused_total",
			Help: "Stored password hashes a login refused to run: costlier than BCRYPT_MAX_COST, or unreadable; the login failed closed.",
		}),
	}
	reg.MustRegister(m.requests, m.duration, m.inFlight, m.authEvents, m.bcryptWait, m.bcryptChild, m.bcryptRefused)
	return m
}

// AuthEvent counts one authentication event; event and result are fixed words.
func (m *Metrics) AuthEvent(event, result string) {
	m.authEvents.WithLabelValues(event, result).Inc()
}

// TokenRejected counts a refused token by reason.
func (m *Metrics) TokenRejected(reason string) { m.AuthEvent("token", reason) }

// BcryptWait records how long a request waited for a bcrypt slot.
func (m *Metrics) BcryptWait(wait time.Duration, admitted bool) {
	m.bcryptWait.WithLabelValues(strconv.FormatBool(admitted)).Observe(wait.Seconds())
}

// BcryptChildEvent counts one event of the bcrypt child process; event is a fixed word.
func (m *Metrics) BcryptChildEvent(event string) {
	m.bcryptChild.WithLabelValues(event).Inc()
}

// BcryptHashRefused counts one stored hash a login refused to run.
func (m *Metrics) BcryptHashRefused() { m.bcryptRefused.Inc() }

// Instrument counts and times every request by route template. It must run outside
// HandleErrors so the status it reads is the final one.
//
// The collectors of each (route, method, status) are looked up once and cached, so a request
// pays one map lookup instead of two label-vector lookups and the status's string form.
func (m *Metrics) Instrument() fiber.Handler {
	routes := &endpoints{}
	// A map under a lock rather than a sync.Map: its interface keys would put every
	// request's key on the heap.
	var mu sync.RWMutex
	cache := map[seriesKey]*series{}
	return func(c *fiber.Ctx) error {
		start := time.Now()
		m.inFlight.Inc()
		defer m.inFlight.Dec()
		err := c.Next()
		status := c.Response().StatusCode()
		key := seriesKey{route: routes.template(c), method: Method(c), status: status}
		mu.RLock()
		s, ok := cache[key]
		mu.RUnlock()
		if !ok {
			s = &series{
				requests: m.requests.WithLabelValues(key.method, key.route, strconv.Itoa(status)),
				duration: m.duration.WithLabelValues(key.method, key.route),
			}
			mu.Lock()
			cache[key] = s
			mu.Unlock()
		}
		s.requests.Inc()
		s.duration.Observe(time.Since(start).Seconds())
		return err
	}
}

// seriesKey names the series of one answer. All three are from fixed sets (route templates,
// constant method names, HTTP statuses), so the cache stays as small as the series themselves.
type seriesKey struct {
	route, method string
	status        int
}

type series struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// Method returns the request method as a constant string. c.Method() points into a buffer
// that fasthttp reuses, so it must not be kept (as a metric label, say) after the request.
func Method(c *fiber.Ctx) string {
	switch m := c.Method(); m {
	case fiber.MethodGet:
		return fiber.MethodGet
	case fiber.MethodPost:
		return fiber.MethodPost
	case fiber.MethodHead:
		return fiber.MethodHead
	case fiber.MethodPut:
		return fiber.MethodPut
	case fiber.MethodPatch:
		return fiber.MethodPatch
	case fiber.MethodDelete:
		return fiber.MethodDelete
	case fiber.MethodOptions:
		return fiber.MethodOptions
	}
	return "OTHER"
}
