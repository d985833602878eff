package middleware_test

import (
	"net"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/example/authapi/middleware"
)

func TestClientAddr(t *testing.T) {
	for _, tc := range []struct {
		name    string
		trusted []string
		peer    string
		xff     []string // one X-Forwarded-For header per element
		want    string
	}{
		{"OKPeerWithoutProxies", nil, "203.0.113.7", []string{"198.51.100.1"}, "203.0.113.7"},
		{"OKUntrustedPeerIgnoresHeader", []string{"10.0.0.1"}, "203.0.113.7", []string{"198.51.100.1"}, "203.0.113.7"},
		{"OKTrustedPeerOneHop", []string{"10.0.0.1"}, "10.0.0.1", []string{"198.51.100.1"}, "198.51.100.1"},
		{"OKRightmostUntrusted", []string{"10.0.0.0/8"}, "10.0.0.1", []string{"6.6.6.6, 198.51.100.1, 10.0.0.2"}, "198.51.100.1"},
		{"OKSeveralHeaders", []string{"10.0.0.0/8"}, "10.0.0.1", []string{"6.6.6.6", "198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"OKGarbageStopsTheWalk", []string{"10.0.0.0/8"}, "10.0.0.1", []string{"198.51.100.1, not-an-ip, 10.0.0.3"}, "10.0.0.3"},
		{"OKNoHeaderFromProxy", []string{"10.0.0.1"}, "10.0.0.1", nil, "10.0.0.1"},
		{"OKIPv6Per64", nil, "2001:db8:1:2:aaaa::1", nil, "2001:db8:1:2::/64"},
		{"OKIPv4WithPort", []string{"10.0.0.1"}, "10.0.0.1", []string{"198.51.100.1:5555"}, "198.51.100.1"},
		{"OKIPv6WithPort", []string{"10.0.0.1"}, "10.0.0.1", []string{"[2001:db8::1]:443"}, "2001:db8::/64"},
		{"OKIPv6Bracketed", []string{"10.0.0.1"}, "10.0.0.1", []string{"[2001:db8::1]"}, "2001:db8::/64"},
		{"OKTrustedHopWithPortSkipped", []string{"10.0.0.0/8"}, "10.0.0.1", []string{"198.51.100.1:5555, 10.0.0.2:80"}, "198.51.100.1"},
		{"OKIPv6ZoneWithPortIsGarbage", []string{"10.0.0.1"}, "10.0.0.1", []string{"[fe80::1%eth0]:443x"}, "10.0.0.1"},
		{"OKBadPortIsGarbage", []string{"10.0.0.1"}, "10.0.0.1", []string{"198.51.100.1:99999"}, "10.0.0.1"},
		{"OKIPv4MappedIPv6", []string{"10.0.0.1"}, "::ffff:10.0.0.1", []string{"::ffff:198.51.100.1"}, "198.51.100.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := middleware.ClientAddr(tc.trusted)
			app := fiber.New()
			var got string
			app.Get("/", func(c *fiber.Ctx) error { got = addr(c); return nil })
			var ctx fasthttp.RequestCtx
			ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.ParseIP(tc.peer), Port: 1234}, nil)
			ctx.Request.Header.SetMethod(fiber.MethodGet)
			ctx.Request.SetRequestURI("/")
			for _, h := range tc.xff {
				ctx.Request.Header.Add(fiber.HeaderXForwardedFor, h)
			}
			app.Handler()(&ctx)
			if got != tc.want {
				t.Fatalf("client address = %q, want %q", got, tc.want)
			}
		})
	}
}
