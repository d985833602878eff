package apptest

import (
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
)

// Gate is a loopback port that refuses connections until Open, then forwards each connection to
// a real server. A test points the binary at the gate to start it while "Postgres is absent"
// (connection refused, as when the server is not up yet) and then make Postgres appear on the
// same address, without the cost of an initdb cluster per test.
type Gate struct {
	tb     testing.TB
	Port   int
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]struct{} // live client-side connections, cut by Close
}

// NewGate returns a closed gate in front of target (host:port); it closes when the test ends.
func NewGate(tb testing.TB, target string) *Gate {
	g := &Gate{tb: tb, Port: FreePort(tb), target: target, conns: map[net.Conn]struct{}{}}
	tb.Cleanup(g.Close)
	return g
}

// Open starts accepting on the gate's port and forwarding to the target.
func (g *Gate) Open() {
	g.tb.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(g.Port)))
	if err != nil {
		g.tb.Fatalf("open gate on %d: %v", g.Port, err)
	}
	g.mu.Lock()
	g.ln = ln
	g.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go g.forward(c)
		}
	}()
}

func (g *Gate) forward(c net.Conn) {
	g.mu.Lock()
	g.conns[c] = struct{}{}
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		delete(g.conns, c)
		g.mu.Unlock()
		c.Close()
	}()
	up, err := net.Dial("tcp", g.target)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
}

// Close stops accepting and cuts every forwarded connection, as when the server goes away:
// pooled connections break and new ones are refused until Open.
func (g *Gate) Close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln != nil {
		_ = g.ln.Close()
		g.ln = nil
	}
	for c := range g.conns {
		_ = c.Close()
	}
}
