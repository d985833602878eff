package apptest

import (
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
)

// Proxy is a TCP forwarder on a free loopback port in front of target, which a test can tell to
// hold everything target sends (Hold): a replica replicating through it then stops receiving
// the primary's writes while the primary goes on acknowledging them, which is replication lag
// made on purpose. Close drops every connection and whatever was held in it.
type Proxy struct {
	tb       testing.TB
	Port     int
	target   string
	listener net.Listener

	mu    sync.Mutex
	held  bool
	wake  *sync.Cond
	conns []net.Conn
}

// StartProxy forwards a free port to target until the test ends.
func StartProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("proxy listen: %v", err)
	}
	p := &Proxy{tb: tb, target: target, listener: ln, Port: ln.Addr().(*net.TCPAddr).Port}
	p.wake = sync.NewCond(&p.mu)
	go p.accept()
	tb.Cleanup(p.Close)
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return "127.0.0.1:" + strconv.Itoa(p.Port) }

// Hold stops forwarding what the target sends: it stays in the proxy, unread.
func (p *Proxy) Hold() {
	p.mu.Lock()
	p.held = true
	p.mu.Unlock()
}

// Close stops the proxy and drops every connection with whatever it held.
func (p *Proxy) Close() {
	_ = p.listener.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
	p.wake.Broadcast()
	p.mu.Unlock()
}

func (p *Proxy) accept() {
	for {
		client, err := p.listener.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = client.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, client, server)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(server, client); _ = server.Close() }()
		go p.downstream(client, server)
	}
}

// downstream copies what the target sends to the client, unless the proxy is held.
func (p *Proxy) downstream(client, server net.Conn) {
	defer client.Close()
	buf := make([]byte, 32<<10)
	for {
		p.mu.Lock()
		for p.held && p.listenerOpen() {
			p.wake.Wait()
		}
		p.mu.Unlock()
		n, err := server.Read(buf)
		if n > 0 {
			p.mu.Lock()
			held := p.held
			p.mu.Unlock()
			if held {
				return // a read that raced Hold: dropped, never forwarded
			}
			if _, werr := client.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// listenerOpen reports whether Close has not run (called with mu held).
func (p *Proxy) listenerOpen() bool { return p.conns != nil }
