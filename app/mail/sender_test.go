package mail_test

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"github.com/example/authapi/app/apptest"
	"github.com/example/authapi/app/mail"
)

func send(t *testing.T, s *mail.SMTPSender, to string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.Send(ctx, mail.Message{To: to, Subject: "hello", Text: "text body", HTML: "<p>html body</p>"})
}

// STARTTLS is used whenever the server offers it, and plain SMTP only when it does not; a
// certificate that does not verify fails the delivery instead of falling back to plain text.
func TestSMTPSenderSTARTTLS(t *testing.T) {
	t.Parallel()
	t.Run("OKOffered", func(t *testing.T) {
		server, pool := apptest.StartSMTPWithTLS(t)
		s, err := mail.NewSMTPSender(server.URL(), "no-reply@localhost", &tls.Config{RootCAs: pool})
		apptest.Must(t, err, "sender")
		apptest.Must(t, send(t, s, "a@example.com"), "send")
		m := server.WaitFor("a@example.com", 1, 5*time.Second)[0]
		if !m.TLS || m.Text != "text body" || m.HTML != "<p>html body</p>" || m.Subject != "hello" {
			t.Fatalf("received over TLS=%v: %q %q %q", m.TLS, m.Subject, m.Text, m.HTML)
		}
	})
	t.Run("OKNotOffered", func(t *testing.T) {
		server := apptest.StartSMTP(t)
		s, err := mail.NewSMTPSender(server.URL(), "no-reply@localhost", nil)
		apptest.Must(t, err, "sender")
		apptest.Must(t, send(t, s, "b@example.com"), "send")
		if m := server.WaitFor("b@example.com", 1, 5*time.Second)[0]; m.TLS {
			t.Fatal("TLS reported on a server that offers none")
		}
	})
	t.Run("ErrUntrustedCertificate", func(t *testing.T) {
		server, _ := apptest.StartSMTPWithTLS(t)
		s, err := mail.NewSMTPSender(server.URL(), "no-reply@localhost", nil) // system roots only
		apptest.Must(t, err, "sender")
		if err := send(t, s, "c@example.com"); err == nil {
			t.Fatal("delivered over a STARTTLS whose certificate does not verify")
		}
		if n := len(server.Messages()); n != 0 {
			t.Fatalf("%d messages arrived in plain text after a failed STARTTLS", n)
		}
	})
	t.Run("ErrPermanentRefusal", func(t *testing.T) {
		server := apptest.StartSMTP(t)
		s, err := mail.NewSMTPSender(server.URL(), "no-reply@localhost", nil)
		apptest.Must(t, err, "sender")
		if err := send(t, s, "not an address"); err == nil || !mail.IsPermanent(err) {
			t.Fatalf("a bad recipient: %v, want a permanent error", err)
		}
	})
}
