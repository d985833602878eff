// Package mail delivers the account lifecycle's messages: it renders them from embedded
// templates, sends them over SMTP (or logs their links when no SMTP server is configured), and
// runs the worker that drains the outbox.
package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"

	gomail "github.com/wneessen/go-mail"

	"github.com/example/authapi/config"
)

// Message is one rendered message. Link is the link in its body, for the log sender.
type Message struct {
	To, Subject, Text, HTML string
	Link                    string
}

// Sender delivers a message. A nil error means the receiving server took it.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// SMTPSender sends through one SMTP server with wneessen/go-mail: STARTTLS, required (smtp://:
// a server that does not offer it fails the attempt, and nothing is sent in plain text), or TLS
// from the start (smtps://), and SMTP AUTH when the URL has a user. Plain text only when asked
// for (PlainText) and only to a loopback host.
type SMTPSender struct {
	client *gomail.Client
	from   string
}

// SMTPOptions are the TLS choices of an SMTPSender.
type SMTPOptions struct {
	// TLSConfig, when not nil, is the base of the TLS settings (its RootCAs, say); the server
	// name is always the URL's host, and the certificate is always verified.
	TLSConfig *tls.Config
	// PlainText sends without TLS (SMTP_TLS=none): allowed only for smtp:// to a loopback host
	// (a relay on the same machine or pod, a development mail catcher).
	PlainText bool
}

// NewSMTPSender returns a sender for rawURL (smtp://[user:pass@]host[:port], default port 587;
// smtps://…, default port 465) with from as the sender address. A STARTTLS that is not offered
// or fails verification fails the delivery rather than falling back to plain text. Errors never
// quote the URL, which may hold a password.
func NewSMTPSender(rawURL, from string, o SMTPOptions) (*SMTPSender, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Hostname() == "" {
		return nil, errors.New("SMTP_URL is not a valid URL")
	}
	if o.PlainText && (u.Scheme != "smtp" || !config.IsLoopbackHost(u.Hostname())) {
		return nil, errors.New("SMTP_TLS=none (plain text) is allowed only for smtp:// to a loopback host")
	}
	tlsConfig := o.TLSConfig
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if tlsConfig != nil {
		tc = tlsConfig.Clone()
		tc.MinVersion = max(tc.MinVersion, tls.VersionTLS12)
	}
	tc.ServerName = u.Hostname()
	port := 587
	// TLSMandatory, never TLSOpportunistic: that one sends in plain text to a server whose EHLO
	// does not offer STARTTLS, which anyone on the path can arrange by rewriting the EHLO.
	opts := []gomail.Option{gomail.WithTLSPolicy(gomail.TLSMandatory), gomail.WithTLSConfig(tc)}
	switch {
	case u.Scheme == "smtps":
		port = 465
		opts = []gomail.Option{gomail.WithSSL(), gomail.WithTLSConfig(tc)}
	case o.PlainText:
		opts = []gomail.Option{gomail.WithTLSPolicy(gomail.NoTLS)}
	}
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil {
			return nil, errors.New("SMTP_URL has an invalid port")
		}
	}
	opts = append(opts, gomail.WithPort(port))
	if user := u.User.Username(); user != "" {
		pass, _ := u.User.Password()
		// The strongest mechanism both sides know; go-mail refuses to send a password in the
		// clear over a connection that STARTTLS did not encrypt.
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover), gomail.WithUsername(user), gomail.WithPassword(pass))
	}
	client, err := gomail.NewClient(u.Hostname(), opts...)
	if err != nil {
		return nil, fmt.Errorf("SMTP client: %w", err)
	}
	return &SMTPSender{client: client, from: from}, nil
}

// Send delivers m on a connection of its own, within ctx's deadline.
func (s *SMTPSender) Send(ctx context.Context, m Message) error {
	msg := gomail.NewMsg()
	if err := msg.From(s.from); err != nil {
		return permanent(fmt.Errorf("from address: %w", err))
	}
	if err := msg.To(m.To); err != nil {
		return permanent(fmt.Errorf("recipient address: %w", err))
	}
	msg.Subject(m.Subject)
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	if err := s.client.DialAndSendWithContext(ctx, msg); err != nil {
		var sendErr *gomail.SendError
		if errors.As(err, &sendErr) && sendErr.ErrorCode() >= 500 && sendErr.ErrorCode() < 600 {
			return permanent(err) // a 5xx reply: the server will say the same next time
		}
		return err
	}
	return nil
}

// LogSender is the development setting (MAIL_LOG_LINKS=true with no SMTP_URL): it writes each
// message's link to the log instead of sending it, so the flows work with no mail server. It
// must not run in production: the log then holds live tokens, which is why the service refuses
// to start with neither SMTP_URL nor MAIL_LOG_LINKS.
type LogSender struct {
	Logger *slog.Logger
}

// Send logs m's recipient, subject and link, at warn level so that no LOG_LEVEL hides it.
func (s LogSender) Send(_ context.Context, m Message) error {
	s.Logger.Warn("mail not sent (SMTP_URL is not set): its link follows", "to", m.To, "subject", m.Subject, "link", m.Link)
	return nil
}

// permanentError marks a failure that no retry will fix.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return permanentError{err} }

// IsPermanent reports whether err is a failure that retrying cannot fix.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}
