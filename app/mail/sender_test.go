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

// smtp:// requires STARTTLS: a server that does not offer it, or whose certificate does not
// verify, fails the delivery (a temporary failure, retried) and receives nothing in plain text.
// Plain text only with SMTP_TLS=none (PlainText), and only to a loopback host.
func TestSMTPSenderSTARTTLS(t *testing.T) {
	t.Parallel()
	t.Run("OKOffered", func(t *testing.T) {
		server, pool := apptest.StartSMTPWithTLS(t)
		s, err := mail.NewSMTPSender(server.URL(), "no-reply@localhost", mail.SMTPOptions{TLSConfig: &tls.Config{RootCAs: pool}})
		apptest.Must(t, err, "sender")
		apptest.Must(t, send(t, s, "a@example.com"), "send")
		m := server.WaitFor("a@example.com", 1, 5*time.Second)[0]
		if !m.TLS || m.Text != "text body" || m.HTML != "<p>html body</p>" || m.Subject != "hello" {
			t.Fatalf("received over TLS=%v: %q %q %q", m.TLS, m.Subject, m.Text, m.HTML)
		}
	})
	t.Run("ErrNotOffered", func(t *testing.T) {
		server := apptest.StartSMTP(t)
		s, err := mail.NewSMTPSender(server.URL(), "no-reply@localhost", mail.SMTPOptions{})
		apptest.Must(t, err, "sender")
		err = send(t, s, "b@example.com")
		if err == nil || mail.IsPermanent(err) {
			t.Fatalf("a server without STARTTLS: %v, want a temporary failure", err)
		}
		if n := len(server.Messages()); n != 0 {
			t.Fatalf("%d messages sent in plain text to a server that offers no STARTTLS", n)
		}
	})
	t.Run("OKPlainTextToLoopback", func(t *testing.T) {
		server := apptest.StartSMTP(t)
		s, err := mail.NewSMTPSender(server.URL(), "no-reply@localhost", mail.SMTPOptions{PlainText: true})
		apptest.Must(t, err, "sender")
		apptest.Must(t, send(t, s, "d@example.com"), "send")
		if m := server.WaitFor("d@example.com", 1, 5*time.Second)[0]; m.TLS {
			t.Fatal("TLS reported on a server that offers none")
		}
	})
	t.Run("ErrPlainTextElsewhere", func(t *testing.T) {
		for _, u := range []string{"smtp://mail.example.com:25", "smtp://10.0.0.1:25", "smtps://127.0.0.1:465"} {
			if _, err := mail.NewSMTPSender(u, "no-reply@localhost", mail.SMTPOptions{PlainText: true}); err == nil {
				t.Errorf("%s: plain text allowed", u)
			}
		}
	})
	t.Run("ErrUntrustedCertificate", func(t *testing.T) {
		server, _ := apptest.StartSMTPWithTLS(t)
		s, err := mail.NewSMTPSender(server.URL(), "no-reply@localhost", mail.SMTPOptions{}) // system roots only
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
		s, err := mail.NewSMTPSender(server.URL(), "no-reply@localhost", mail.SMTPOptions{PlainText: true})
		apptest.Must(t, err, "sender")
		if err := send(t, s, "not an address"); err == nil || !mail.IsPermanent(err) {
			t.Fatalf("a bad recipient: %v, want a permanent error", err)
		}
	})
}
