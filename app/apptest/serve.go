package apptest

import (
	"net"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// Serve runs app on a real loopback listener until the test ends and returns its base URL.
// Use it where the in-process app.Test differs from a socket (oversized bodies, keep-alive).
func Serve(tb testing.TB, app *fiber.App) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	go func() { _ = app.Listener(ln) }()
	tb.Cleanup(func() { _ = app.Shutdown() })
	return "http://" + ln.Addr().String()
}
