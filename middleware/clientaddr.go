package middleware

import (
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// ClientIP returns the function that finds the client of a request.
//
// It is the socket peer, unless the peer is one of trusted (IPs or CIDRs, already validated by
// config). Then X-Forwarded-For is read from the right: each proxy appends the address it saw,
// so the right-most entries are written by trusted hops and the left-most by whoever sent the
// request. The first entry that is not a trusted proxy is the client. Fiber's own c.IP() takes
// the left-most entry, which a client behind a trusted proxy can set to anything, and so can
// rotate to get a fresh per-address counter on every attempt, or forge in the access log.
func ClientIP(trusted []string) func(c *fiber.Ctx) netip.Addr {
	var prefixes []netip.Prefix
	for _, t := range trusted {
		if p, err := netip.ParsePrefix(t); err == nil {
			prefixes = append(prefixes, p.Masked())
		} else if a, err := netip.ParseAddr(t); err == nil {
			prefixes = append(prefixes, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
		}
	}
	isTrusted := func(a netip.Addr) bool {
		for _, p := range prefixes {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return func(c *fiber.Ctx) netip.Addr {
		peer, _ := netip.AddrFromSlice(c.Context().RemoteIP())
		client := peer.Unmap()
		if len(prefixes) > 0 && isTrusted(client) {
			client = fromForwardedFor(c, client, isTrusted)
		}
		return client
	}
}

// ClientAddr returns the function that names the client of a request for the login limits:
// ClientIP, with IPv6 clients counted per /64, since one subscriber usually holds a whole /64
// and can rotate addresses within it at will.
func ClientAddr(trusted []string) func(c *fiber.Ctx) string {
	clientIP := ClientIP(trusted)
	return func(c *fiber.Ctx) string { return addrKey(clientIP(c)) }
}

// fromForwardedFor walks X-Forwarded-For (every such header, in order) from the right and
// returns the first address that is not a trusted proxy; an entry that is not an IP address
// (with or without a port) ends the walk, since nothing left of it can be vouched for.
func fromForwardedFor(c *fiber.Ctx, peer netip.Addr, isTrusted func(netip.Addr) bool) netip.Addr {
	var entries []string
	for _, h := range c.Request().Header.PeekAll(fiber.HeaderXForwardedFor) {
		entries = append(entries, strings.Split(string(h), ",")...)
	}
	client := peer
	for i := len(entries) - 1; i >= 0; i-- {
		a, ok := parseForwardedAddr(strings.TrimSpace(entries[i]))
		if !ok {
			return client
		}
		client = a.Unmap()
		if !isTrusted(client) {
			return client
		}
	}
	return client
}

// parseForwardedAddr reads one X-Forwarded-For entry: an address, or an address with a port as
// some proxies write it ("1.2.3.4:5555", "[2001:db8::1]:443"), or a bracketed IPv6 address
// without one. The port is dropped: the client is the address. Without this, an entry with a
// port was garbage, the walk stopped at the proxy, and every client behind it shared one address.
func parseForwardedAddr(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a, true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr(), true
	}
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil && a.Is6() {
			return a, true
		}
	}
	return netip.Addr{}, false
}

func addrKey(a netip.Addr) string {
	if !a.IsValid() {
		return "unknown"
	}
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
