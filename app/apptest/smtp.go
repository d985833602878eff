package apptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// SMTPServer is a real SMTP server (emersion/go-smtp) on a loopback port that keeps every
// message it accepts. Stop makes the port refuse connections, as a mail server that is down;
// Start serves on the same port again.
type SMTPServer struct {
	tb   testing.TB
	Port int

	mu         sync.Mutex
	srv        *smtp.Server
	ln         net.Listener
	accepted   []Mail
	rejected   []Mail
	reject     int // DATA commands still to refuse after reading the message
	rejectCode int
	changed    chan struct{}
	tls        *tls.Config // offered with STARTTLS when set
}

// Mail is one message as the server received it.
type Mail struct {
	From, To, Subject string
	Text, HTML        string
	Raw               []byte
	At                time.Time
	// TLS tells whether the message came over a connection that STARTTLS encrypted.
	TLS bool
}

var tokenInLink = regexp.MustCompile(`#token=([A-Za-z0-9_-]{43})\b`)

// Token returns the token in the message's link, or "" when there is none.
func (m Mail) Token() string {
	if match := tokenInLink.FindStringSubmatch(m.Text); match != nil {
		return match[1]
	}
	return ""
}

// StartSMTP starts a server on a free loopback port; it stops when the test ends.
func StartSMTP(tb testing.TB) *SMTPServer {
	tb.Helper()
	s := &SMTPServer{tb: tb, Port: FreePort(tb), changed: make(chan struct{})}
	s.Start()
	tb.Cleanup(s.Stop)
	return s
}

// StartSMTPWithTLS starts a server that offers STARTTLS with a self-signed certificate for
// 127.0.0.1, and returns it with a pool that trusts that certificate.
func StartSMTPWithTLS(tb testing.TB) (*SMTPServer, *x509.CertPool) {
	tb.Helper()
	cert, pool := selfSigned(tb)
	s := &SMTPServer{tb: tb, Port: FreePort(tb), changed: make(chan struct{}),
		tls: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	s.Start()
	tb.Cleanup(s.Stop)
	return s, pool
}

func selfSigned(tb testing.TB) (tls.Certificate, *x509.CertPool) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "smtp test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// URL is the SMTP_URL of the server. A server of StartSMTP offers no STARTTLS: the service
// sends to it only with SMTP_TLS=none (allowed, since it is on loopback).
func (s *SMTPServer) URL() string { return "smtp://127.0.0.1:" + strconv.Itoa(s.Port) }

// Start serves on the server's port (again).
func (s *SMTPServer) Start() {
	s.tb.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)))
	if err != nil {
		s.tb.Fatalf("smtp listen on %d: %v", s.Port, err)
	}
	srv := smtp.NewServer(backend{s})
	srv.Domain = "localhost"
	srv.TLSConfig = s.tls
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	s.mu.Lock()
	s.srv, s.ln = srv, ln
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// Stop closes the listener and every connection: new connections are refused until Start.
func (s *SMTPServer) Stop() {
	s.mu.Lock()
	srv, ln := s.srv, s.ln
	s.srv, s.ln = nil, nil
	s.mu.Unlock()
	if srv != nil {
		// The listener is closed here too: Server.Close knows only listeners that Serve has
		// started on, and the Serve goroutine may not have run yet.
		_ = ln.Close()
		_ = srv.Close()
	}
}

// RejectNext makes the next n messages fail with a temporary error (451) after the server has
// read them, as a server that is overloaded does.
func (s *SMTPServer) RejectNext(n int) { s.RejectNextWith(n, 451) }

// RejectNextWith makes the next n messages fail with the reply code after the server has read
// them: 4xx is temporary, 5xx permanent (a mailbox that does not exist, a policy refusal).
func (s *SMTPServer) RejectNextWith(n, code int) {
	s.mu.Lock()
	s.reject, s.rejectCode = n, code
	s.mu.Unlock()
}

// Messages returns every accepted message, in order.
func (s *SMTPServer) Messages() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.accepted...)
}

// Rejected returns every message read and then refused (RejectNext).
func (s *SMTPServer) Rejected() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.rejected...)
}

// To returns the accepted messages to addr.
func (s *SMTPServer) To(addr string) []Mail {
	var out []Mail
	for _, m := range s.Messages() {
		if strings.EqualFold(m.To, addr) {
			out = append(out, m)
		}
	}
	return out
}

// WaitFor waits until n messages to addr have arrived and returns them; it fails the test
// after timeout.
func (s *SMTPServer) WaitFor(addr string, n int, timeout time.Duration) []Mail {
	s.tb.Helper()
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		changed := s.changed
		s.mu.Unlock()
		if got := s.To(addr); len(got) >= n {
			return got
		}
		select {
		case <-changed:
		case <-deadline:
			s.tb.Fatalf("smtp: %d messages to %s within %s, want %d", len(s.To(addr)), addr, timeout, n)
		}
	}
}

func (s *SMTPServer) receive(from, to string, raw []byte, overTLS bool) error {
	m, err := parseMail(raw)
	if err != nil {
		return fmt.Errorf("unparsable message: %w", err)
	}
	m.From, m.To, m.At, m.TLS = from, to, time.Now(), overTLS
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reject > 0 {
		s.reject--
		s.rejected = append(s.rejected, m)
		if s.rejectCode >= 500 {
			return &smtp.SMTPError{Code: s.rejectCode, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "refused"}
		}
		return &smtp.SMTPError{Code: s.rejectCode, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	s.accepted = append(s.accepted, m)
	close(s.changed)
	s.changed = make(chan struct{})
	return nil
}

// parseMail reads the subject and the text and HTML parts of a multipart/alternative message.
func parseMail(raw []byte) (Mail, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Mail{}, err
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	m := Mail{Subject: subject, Raw: raw}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return Mail{}, err
	}
	if !strings.HasPrefix(mediaType, "multipart/") {
		body, err := decodePart(msg.Body, msg.Header.Get("Content-Transfer-Encoding"))
		m.Text = body
		return m, err
	}
	parts := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := parts.NextPart()
		if errors.Is(err, io.EOF) {
			return m, nil
		}
		if err != nil {
			return Mail{}, err
		}
		// NextPart decodes quoted-printable itself and hides the header.
		body, err := decodePart(p, p.Header.Get("Content-Transfer-Encoding"))
		if err != nil {
			return Mail{}, err
		}
		switch ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); ct {
		case "text/plain":
			m.Text = body
		case "text/html":
			m.HTML = body
		}
	}
}

func decodePart(r io.Reader, encoding string) (string, error) {
	if strings.EqualFold(encoding, "base64") {
		r = base64.NewDecoder(base64.StdEncoding, r)
	}
	b, err := io.ReadAll(r)
	return string(b), err
}

type backend struct{ s *SMTPServer }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: b.s, conn: c}, nil
}

type session struct {
	s    *SMTPServer
	conn *smtp.Conn
	from string
	to   []string
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, overTLS := ss.conn.TLSConnectionState()
	for _, to := range ss.to {
		if err := ss.s.receive(ss.from, to, raw, overTLS); err != nil {
			return err
		}
	}
	return nil
}
