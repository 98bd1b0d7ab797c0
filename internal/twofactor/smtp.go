package twofactor

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/url"
	"strings"
	"time"
)

// SMTPSender mails codes through an SMTP server (PAYGRAPH_SMTP_URL):
//
//	smtp://[user:password@]host[:port][?from=address]   port 25; STARTTLS when the server offers it
//	smtps://[user:password@]host[:port][?from=address]  port 465; TLS from the start
//
// With a user the sender authenticates with AUTH PLAIN, which net/smtp
// allows only over TLS or to localhost.
type SMTPSender struct {
	addr     string
	host     string
	implicit bool
	auth     smtp.Auth
	from     string
	// TLS overrides the TLS configuration (tests trust their own CA).
	TLS *tls.Config
	// Timeout bounds one delivery (default 15 s).
	Timeout time.Duration
}

// NewSMTPSender parses PAYGRAPH_SMTP_URL.
func NewSMTPSender(raw string) (*SMTPSender, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
		return nil, fmt.Errorf("%q is not an smtp:// or smtps:// URL", raw)
	}
	s := &SMTPSender{host: u.Hostname(), implicit: u.Scheme == "smtps"}
	port := u.Port()
	if port == "" {
		port = "25"
		if s.implicit {
			port = "465"
		}
	}
	s.addr = net.JoinHostPort(s.host, port)
	if u.User != nil && u.User.Username() != "" {
		pw, _ := u.User.Password()
		s.auth = smtp.PlainAuth("", u.User.Username(), pw, s.host)
	}
	s.from = u.Query().Get("from")
	if s.from == "" {
		s.from = "paygraph@" + s.host
		if strings.Contains(s.host, ":") || net.ParseIP(s.host) != nil {
			s.from = "paygraph@localhost"
		}
	}
	if a, err := mail.ParseAddress(s.from); err != nil || a.Address != s.from {
		return nil, fmt.Errorf("from=%q is not an email address", s.from)
	}
	return s, nil
}

func (s *SMTPSender) tlsConfig() *tls.Config {
	if s.TLS != nil {
		return s.TLS
	}
	return &tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}
}

// Send mails m.Text() to m.To.
func (s *SMTPSender) Send(ctx context.Context, m Message) error {
	if strings.ContainsAny(m.To, "\r\n") {
		return errors.New("smtp: recipient contains a line break")
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d := net.Dialer{}
	var conn net.Conn
	var err error
	if s.implicit {
		td := tls.Dialer{NetDialer: &d, Config: s.tlsConfig()}
		conn, err = td.DialContext(ctx, "tcp", s.addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", s.addr)
	}
	if err != nil {
		return fmt.Errorf("smtp: connecting to %s: %w", s.addr, err)
	}
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp: greeting from %s: %w", s.addr, err)
	}
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		return fmt.Errorf("smtp: HELO: %w", err)
	}
	if !s.implicit {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(s.tlsConfig()); err != nil {
				return fmt.Errorf("smtp: STARTTLS: %w", err)
			}
		}
	}
	if s.auth != nil {
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("smtp: a user is configured but the server offers no AUTH")
		}
		if err := c.Auth(s.auth); err != nil {
			return fmt.Errorf("smtp: AUTH: %w", err)
		}
	}
	if err := c.Mail(s.from); err != nil {
		return fmt.Errorf("smtp: MAIL FROM: %w", err)
	}
	if err := c.Rcpt(m.To); err != nil {
		return fmt.Errorf("smtp: RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp: DATA: %w", err)
	}
	if _, err := w.Write(s.compose(m)); err != nil {
		return fmt.Errorf("smtp: writing message: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp: message refused: %w", err)
	}
	return c.Quit()
}

func (s *SMTPSender) compose(m Message) []byte {
	var b bytes.Buffer
	now := time.Now()
	fmt.Fprintf(&b, "From: paygraph <%s>\r\n", s.from)
	fmt.Fprintf(&b, "To: <%s>\r\n", m.To)
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", "支付验证码 / Payment verification code"))
	fmt.Fprintf(&b, "Date: %s\r\n", now.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%d.%d@paygraph>\r\n", m.VerifyCodeOrderID, now.UnixNano())
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write([]byte(m.Text() + "\r\n"))
	_ = qp.Close()
	b.WriteString("\r\n")
	return b.Bytes()
}
