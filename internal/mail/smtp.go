package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
	gomaillog "github.com/wneessen/go-mail/log"

	"github.com/tripintravel/tripin/internal/config"
)

// DefaultSMTPTimeout bounds connecting and each phase of an SMTP exchange.
// A send therefore ends within about two of these after its context's dial,
// well inside the email jobs' 120 s timeout.
const DefaultSMTPTimeout = 30 * time.Second

// SMTPConfig configures the SMTP mailer.
type SMTPConfig struct {
	Host string
	Port int
	// Username and Password, when Username is set, authenticate with the
	// strongest mechanism both sides support.
	Username string
	Password string
	// Encryption is "tls" (STARTTLS, required), "ssl" (implicit TLS, as on
	// port 465) or "none".
	Encryption string
	From       Address
	// Timeout bounds connecting and each phase of the exchange;
	// zero means DefaultSMTPTimeout.
	Timeout time.Duration
	// TLSConfig overrides the TLS settings (tests trust their own CA with
	// it). Nil verifies the server's certificate for Host against the
	// system roots.
	TLSConfig *tls.Config
	// Trace, when set, receives the SMTP conversation line by line, with
	// authentication data redacted. `tripin mail test` prints it.
	Trace io.Writer
}

// SMTPConfigFrom reads the MAIL_* keys of cfg.
func SMTPConfigFrom(cfg *config.Config) SMTPConfig {
	return SMTPConfig{
		Host:       cfg.MailHost,
		Port:       cfg.MailPort,
		Username:   cfg.MailUsername,
		Password:   cfg.MailPassword,
		Encryption: cfg.MailEncryption,
		From:       From(cfg),
	}
}

// SMTPMailer sends messages over SMTP, one connection per message. It is
// safe for concurrent use.
type SMTPMailer struct {
	client   *gomail.Client
	from     Address
	password string
	logger   *slog.Logger
}

// NewSMTPMailer returns an SMTP mailer for c. It does not connect.
func NewSMTPMailer(c SMTPConfig, logger *slog.Logger) (*SMTPMailer, error) {
	if c.Host == "" {
		return nil, errors.New("mail: smtp: MAIL_HOST is empty")
	}
	if c.From.Email == "" {
		return nil, errors.New("mail: smtp: MAIL_FROM_ADDRESS is empty")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultSMTPTimeout
	}
	tlsConfig := c.TLSConfig
	if tlsConfig == nil {
		tlsConfig = &tls.Config{ServerName: c.Host, MinVersion: tls.VersionTLS12}
	}
	opts := []gomail.Option{
		gomail.WithPort(c.Port),
		gomail.WithTimeout(timeout),
		gomail.WithTLSConfig(tlsConfig),
		// A fresh connection needs no NOOP probe, and RSET after the last
		// message only adds a round trip before QUIT.
		gomail.WithoutNoop(),
		gomail.WithoutRset(),
	}
	switch c.Encryption {
	case "tls":
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case "ssl":
		opts = append(opts, gomail.WithSSL())
	case "none", "":
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		return nil, fmt.Errorf("mail: smtp: unknown encryption %q (want tls, ssl or none)", c.Encryption)
	}
	if c.Username != "" {
		opts = append(opts, gomail.WithUsername(c.Username), gomail.WithPassword(c.Password))
		if c.Encryption == "none" || c.Encryption == "" {
			// The operator chose a plaintext connection with credentials
			// (a local relay, for instance): allow PLAIN and LOGIN on it
			// instead of failing the discovery, and say so once.
			logger.Warn("SMTP credentials will be sent without encryption", "host", c.Host, "encryption", "none")
			opts = append(opts, gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthPlainNoEnc, gomail.SMTPAuthLoginNoEnc))
		} else {
			opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover))
		}
	}
	if c.Trace != nil {
		opts = append(opts, gomail.WithDebugLog(), gomail.WithLogger(&traceLogger{w: c.Trace}))
	}
	client, err := gomail.NewClient(c.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("mail: smtp: %w", err)
	}
	return &SMTPMailer{client: client, from: c.From, password: c.Password, logger: logger}, nil
}

// Send delivers msg in one SMTP session. ctx bounds connecting; the rest of
// the exchange is bounded by the configured timeout, and is never abandoned
// half-way, since a message the server accepted after we gave up would be
// sent again by the retry.
func (m *SMTPMailer) Send(ctx context.Context, msg *Message) (*Receipt, error) {
	gm, err := buildMsg(m.from, msg)
	if err != nil {
		return nil, &SendError{Temporary: false, Err: err}
	}
	err = m.client.DialAndSendWithContext(ctx, gm)
	// Once the server answered 250 to the end of DATA the message is its
	// responsibility: a failing RSET or QUIT afterwards must not turn into
	// a retry that sends it again.
	if gm.IsDelivered() {
		if err != nil {
			m.logger.Debug("SMTP session ended with an error after the message was accepted",
				"message_id", gm.GetMessageID(), "err", m.redact(err))
		}
		return &Receipt{MessageID: gm.GetMessageID(), Reply: strings.TrimSpace("250 " + gm.ServerResponse())}, nil
	}
	if err == nil {
		return nil, &SendError{Temporary: true, Err: errors.New("the server did not confirm the message")}
	}
	return nil, m.classify(err)
}

// classify turns a go-mail error into a *SendError: SMTP 5xx replies are
// permanent, 4xx replies, network errors and anything else are temporary.
func (m *SMTPMailer) classify(err error) *SendError {
	se := &SendError{Temporary: true, Err: m.redact(err)}
	var gse *gomail.SendError
	var tpe *textproto.Error
	switch {
	case errors.As(err, &gse) && gse.ErrorCode() > 0:
		se.Code = gse.ErrorCode()
	case errors.As(err, &tpe):
		se.Code = tpe.Code
	}
	if se.Code >= 500 && se.Code < 600 {
		se.Temporary = false
	}
	if tpe != nil && tpe.Code == se.Code {
		se.Reply = strings.TrimSpace(fmt.Sprintf("%d %s", tpe.Code, tpe.Msg))
	} else {
		se.Reply = serverReply(se.Err.Error(), se.Code)
	}
	if m.password != "" && len(m.password) >= 3 {
		se.Reply = strings.ReplaceAll(se.Reply, m.password, "********")
	}
	return se
}

// serverReply cuts the server's answer ("550 5.1.1 No such user") out of an
// error message, or returns the whole message when it has no reply code.
// net/textproto quotes the reply text ("550 \"5.1.1 No such user\""), and
// go-mail appends the affected recipients and message ID; both are undone.
func serverReply(msg string, code int) string {
	if code == 0 {
		return msg
	}
	c := strconv.Itoa(code)
	i := strings.Index(msg, c+" ")
	if j := strings.Index(msg, c+"-"); j >= 0 && (i < 0 || j < i) {
		i = j
	}
	if i < 0 {
		return msg
	}
	rest := msg[i+len(c)+1:]
	if q, err := strconv.QuotedPrefix(rest); err == nil {
		if text, err := strconv.Unquote(q); err == nil {
			return c + " " + text
		}
	}
	for _, tail := range []string{", affected recipient(s): ", ", affected message ID: "} {
		if k := strings.Index(rest, tail); k >= 0 {
			rest = rest[:k]
		}
	}
	return strings.TrimSpace(c + " " + rest)
}

// redact removes the SMTP password from an error's text. Servers have no
// reason to echo it, but an error message is no place to find out.
func (m *SMTPMailer) redact(err error) error {
	if err == nil || len(m.password) < 3 || !strings.Contains(err.Error(), m.password) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), m.password, "********"))
}

// traceLogger writes go-mail's debug log of the SMTP conversation as
// "C: EHLO host" and "S: 250 ..." lines.
type traceLogger struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *traceLogger) write(lg gomaillog.Log) {
	prefix := "S: "
	if lg.Direction == gomaillog.DirClientToServer {
		prefix = "C: "
	}
	text := fmt.Sprintf(lg.Format, lg.Messages...)
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range strings.Split(strings.TrimRight(text, "\r\n"), "\n") {
		fmt.Fprintln(l.w, prefix+strings.TrimRight(line, "\r"))
	}
}

func (l *traceLogger) Debugf(lg gomaillog.Log) { l.write(lg) }
func (l *traceLogger) Infof(lg gomaillog.Log)  { l.write(lg) }
func (l *traceLogger) Warnf(lg gomaillog.Log)  { l.write(lg) }
func (l *traceLogger) Errorf(lg gomaillog.Log) { l.write(lg) }
