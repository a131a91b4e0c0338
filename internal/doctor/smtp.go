package doctor

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/smtp"
	"strconv"
	"time"
)

// checkSMTP connects to MAIL_HOST:MAIL_PORT and says EHLO, as a delivery
// would start, and sends no mail: with MAIL_ENCRYPTION=ssl over TLS from
// the first byte, with tls only when the server offers STARTTLS (which
// it then takes, so that a certificate the mailer would refuse shows
// here). It is skipped unless MAIL_MAILER=smtp.
func checkSMTP(ctx context.Context, p *Params) Result {
	cfg := p.Config
	if cfg == nil {
		return skipped("no configuration")
	}
	if cfg.MailMailer != "smtp" {
		return skipped("MAIL_MAILER=%s sends no mail over SMTP", cfg.MailMailer)
	}
	addr := net.JoinHostPort(cfg.MailHost, strconv.Itoa(cfg.MailPort))
	tlsConfig := p.SMTPTLSConfig
	if tlsConfig == nil {
		tlsConfig = &tls.Config{ServerName: cfg.MailHost, MinVersion: tls.VersionTLS12}
	}
	if err := smtpHello(ctx, addr, cfg.MailHost, cfg.MailEncryption, tlsConfig); err != nil {
		return problemf("SMTP server %s (MAIL_ENCRYPTION=%s): %s", addr, cfg.MailEncryption, p.scrub(err.Error()))
	}
	return ok("%s answers EHLO (MAIL_ENCRYPTION=%s)", addr, cfg.MailEncryption)
}

// smtpHello opens a connection to addr, reads the greeting, says EHLO
// (and STARTTLS when encryption is tls) and QUIT.
func smtpHello(ctx context.Context, addr, host, encryption string, tlsConfig *tls.Config) error {
	d := &net.Dialer{}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("cannot connect: %w", err)
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	} else {
		_ = conn.SetDeadline(time.Now().Add(DefaultTimeout))
	}
	if encryption == "ssl" {
		tc := tls.Client(conn, tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("TLS handshake: %w", err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return fmt.Errorf("no SMTP greeting: %w", err)
	}
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		return fmt.Errorf("EHLO refused: %w", err)
	}
	if encryption == "tls" {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fmt.Errorf("the server does not offer STARTTLS, which MAIL_ENCRYPTION=tls requires")
		}
		if err := c.StartTLS(tlsConfig); err != nil {
			return fmt.Errorf("STARTTLS: %w", err)
		}
	}
	if err := c.Quit(); err != nil {
		return fmt.Errorf("QUIT: %w", err)
	}
	return nil
}
