// Package mailtest runs a real SMTP server inside a test, on a loopback
// port, and parses what it received. It speaks plain SMTP, STARTTLS or
// implicit TLS, can require AUTH PLAIN, and can answer each message with a
// chosen reply (451, 550, …), so tests exercise the SMTP mailer against a
// server and not a mock.
package mailtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Options configure a Server. The zero value is a plaintext server that
// accepts every message without authentication.
type Options struct {
	// Encryption is "none" (default), "tls" (STARTTLS offered; combined
	// with Username the server refuses AUTH before it) or "ssl" (implicit
	// TLS on connect).
	Encryption string
	// Username and Password, when Username is set, make the server require
	// AUTH PLAIN with exactly these credentials before MAIL FROM.
	Username string
	Password string
	// Reply, when set, decides the answer to each message at the end of
	// DATA; attempt counts messages from 1. Return nil to accept, or an
	// error made with Reply (for example Reply(451, "4.7.1", "Try again
	// later")) to reject.
	Reply func(attempt int) error
	// Discard counts accepted messages without keeping them (benchmarks).
	Discard bool
}

// Received is one accepted message as it arrived.
type Received struct {
	From string
	To   []string
	Data []byte
}

// Server is a running SMTP server, closed when the test ends.
type Server struct {
	Host string
	Port int

	opts   Options
	srv    *smtp.Server
	ln     net.Listener
	client *tls.Config

	mu        sync.Mutex
	msgs      []*Received
	accepted  int
	attempts  int
	authFails int
}

// ReplyError builds an SMTP reply for Options.Reply, such as
// ReplyError(550, "5.1.1", "No such user").
func ReplyError(code int, enhanced string, msg string) error {
	ec := smtp.EnhancedCodeNotSet
	if enhanced != "" {
		var parts [3]int
		n := 0
		for _, p := range splitDots(enhanced) {
			if n < 3 {
				parts[n], _ = strconv.Atoi(p)
			}
			n++
		}
		if n == 3 {
			ec = smtp.EnhancedCode(parts)
		}
	}
	return &smtp.SMTPError{Code: code, EnhancedCode: ec, Message: msg}
}

func splitDots(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// Start starts a server on 127.0.0.1 and a free port.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{Host: "127.0.0.1", opts: opts}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{s: s}, nil
	}))
	srv.Domain = "mailtest.local"
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.MaxMessageBytes = 10 << 20
	srv.MaxRecipients = 50
	srv.ErrorLog = log.New(io.Discard, "", 0)
	s.srv = srv

	var ln net.Listener
	var err error
	switch opts.Encryption {
	case "", "none":
		srv.AllowInsecureAuth = true
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	case "tls", "ssl":
		serverTLS, clientTLS, cerr := selfSigned()
		if cerr != nil {
			t.Fatalf("mailtest: certificate: %v", cerr)
		}
		s.client = clientTLS
		srv.TLSConfig = serverTLS
		if opts.Encryption == "ssl" {
			ln, err = tls.Listen("tcp", "127.0.0.1:0", serverTLS)
		} else {
			ln, err = net.Listen("tcp", "127.0.0.1:0")
		}
	default:
		t.Fatalf("mailtest: unknown encryption %q", opts.Encryption)
	}
	if err != nil {
		t.Fatalf("mailtest: listen: %v", err)
	}
	s.Port = ln.Addr().(*net.TCPAddr).Port
	s.ln = ln
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// Close stops the server before the test ends, so that connecting to
// Addr fails as it does with a server that is down.
func (s *Server) Close() {
	_ = s.srv.Close()
	// Serve may not have taken the listener yet.
	_ = s.ln.Close()
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// ClientTLSConfig trusts the server's self-signed certificate; nil for a
// plaintext server.
func (s *Server) ClientTLSConfig() *tls.Config {
	if s.client == nil {
		return nil
	}
	return s.client.Clone()
}

// ConfigValues are the MAIL_* keys pointing at this server, for
// config.FromMap. The client must still be given ClientTLSConfig when the
// server uses TLS.
func (s *Server) ConfigValues() map[string]string {
	enc := s.opts.Encryption
	if enc == "" {
		enc = "none"
	}
	return map[string]string{
		"MAIL_MAILER": "smtp", "MAIL_HOST": s.Host, "MAIL_PORT": strconv.Itoa(s.Port),
		"MAIL_ENCRYPTION": enc, "MAIL_USERNAME": s.opts.Username, "MAIL_PASSWORD": s.opts.Password,
	}
}

// Messages returns the accepted messages, oldest first.
func (s *Server) Messages() []*Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Received(nil), s.msgs...)
}

// Accepted returns how many messages the server accepted.
func (s *Server) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// Attempts returns how many messages reached the end of DATA, accepted or
// not.
func (s *Server) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// AuthFailures returns how many AUTH attempts were refused.
func (s *Server) AuthFailures() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authFails
}

// WaitForMessages waits until n messages were accepted or timeout passes,
// and returns the messages received.
func (s *Server) WaitForMessages(n int, timeout time.Duration) []*Received {
	deadline := time.Now().Add(timeout)
	for {
		if s.Accepted() >= n || time.Now().After(deadline) {
			return s.Messages()
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type session struct {
	s      *Server
	authed bool
	from   string
	to     []string
}

var _ smtp.AuthSession = (*session)(nil)

func (ss *session) AuthMechanisms() []string {
	if ss.s.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != ss.s.opts.Username || password != ss.s.opts.Password {
			ss.s.mu.Lock()
			ss.s.authFails++
			ss.s.mu.Unlock()
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
		}
		ss.authed = true
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.opts.Username != "" && !ss.authed {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	ss.s.attempts++
	n := ss.s.attempts
	ss.s.mu.Unlock()
	if ss.s.opts.Reply != nil {
		if err := ss.s.opts.Reply(n); err != nil {
			return err
		}
	}
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	ss.s.accepted++
	if !ss.s.opts.Discard {
		ss.s.msgs = append(ss.s.msgs, &Received{From: ss.from, To: append([]string(nil), ss.to...), Data: b})
	}
	return nil
}

func (ss *session) Reset() { ss.from, ss.to = "", nil }

func (ss *session) Logout() error { return nil }

// selfSigned makes a certificate for 127.0.0.1 and localhost, and a client
// configuration that trusts it.
func selfSigned() (server, client *tls.Config, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mailtest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}},
		MinVersion:   tls.VersionTLS12,
	}
	client = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	return server, client, nil
}
