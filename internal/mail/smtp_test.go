package mail_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/mail"
	"github.com/tripintravel/tripin/internal/mail/mailtest"
)

// TestSMTPDelivery sends both emails to a real SMTP server in each
// encryption mode and checks what arrived.
func TestSMTPDelivery(t *testing.T) {
	for _, tc := range []struct {
		name, encryption, username string
	}{
		{"plain", "none", ""},
		{"plain with auth", "none", "tripin"},
		{"starttls with auth", "tls", "tripin"},
		{"implicit tls with auth", "ssl", "tripin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := mailtest.Options{Encryption: tc.encryption, Username: tc.username}
			if tc.username != "" {
				opts.Password = testPassword
			}
			srv := mailtest.Start(t, opts)
			m := smtpMailer(t, srv, tc.encryption, opts.Username, opts.Password, nil)
			r := newRenderer(t)
			inv, err := r.Invoice(sampleBooking(42, "pending"))
			if err != nil {
				t.Fatal(err)
			}
			inv.MessageID = "invoice.TRP-7K2M9Q@tripintravel.com"
			rc, err := m.Send(context.Background(), inv)
			if err != nil {
				t.Fatalf("send invoice: %v", err)
			}
			if rc.MessageID != "<invoice.TRP-7K2M9Q@tripintravel.com>" {
				t.Errorf("receipt message id = %q", rc.MessageID)
			}
			tick, err := r.ETicket(sampleBooking(42, "paid"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.Send(context.Background(), tick); err != nil {
				t.Fatalf("send e-ticket: %v", err)
			}

			msgs := srv.Messages()
			if len(msgs) != 2 {
				t.Fatalf("server received %d messages, want 2", len(msgs))
			}
			got := checkReceived(t, msgs[0], "Invoice TRP-7K2M9Q: Bromo Sunrise Trip")
			if id := got.Header.Get("Message-Id"); id != "<invoice.TRP-7K2M9Q@tripintravel.com>" {
				t.Errorf("Message-ID = %q", id)
			}
			if !strings.Contains(got.Text, "https://tripin.example/bookings/42/pay") {
				t.Errorf("invoice text lacks the payment link")
			}
			got = checkReceived(t, msgs[1], "Your e-ticket TRP-7K2M9Q: Bromo Sunrise Trip")
			checkQRInline(t, got)
		})
	}
}

// checkReceived checks envelope, headers and both parts of a booking email.
func checkReceived(t *testing.T, rcv *mailtest.Received, subject string) *mailtest.Parsed {
	t.Helper()
	if rcv.From != "noreply@tripintravel.com" {
		t.Errorf("MAIL FROM = %q", rcv.From)
	}
	if len(rcv.To) != 1 || rcv.To[0] != "siti@example.com" {
		t.Errorf("RCPT TO = %v", rcv.To)
	}
	p, err := rcv.Parse()
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != subject {
		t.Errorf("Subject = %q, want %q", p.Subject, subject)
	}
	if !strings.Contains(p.To, "siti@example.com") || !strings.Contains(p.From, `"Tripin Travel" <noreply@tripintravel.com>`) {
		t.Errorf("To = %q, From = %q", p.To, p.From)
	}
	if p.Text == "" || p.HTML == "" {
		t.Fatalf("message lacks a part: text %d bytes, html %d bytes (%v)", len(p.Text), len(p.HTML), p.MultipartTypes)
	}
	for part, body := range map[string]string{"text": p.Text, "html": p.HTML} {
		for _, want := range []string{"TRP-7K2M9Q", "Rp1.500.000", "WIB"} {
			if !strings.Contains(body, want) {
				t.Errorf("%s part lacks %q", part, want)
			}
		}
	}
	return p
}

// checkQRInline checks that the e-ticket carries its QR code as an inline
// PNG that the HTML part references by Content-ID.
func checkQRInline(t *testing.T, p *mailtest.Parsed) {
	t.Helper()
	if len(p.MultipartTypes) == 0 || p.MultipartTypes[0] != "multipart/related" {
		t.Errorf("e-ticket structure %v, want multipart/related outside", p.MultipartTypes)
	}
	var qr *mailtest.Part
	for _, part := range p.Parts {
		if part.ContentType == "image/png" {
			qr = part
		}
	}
	if qr == nil {
		t.Fatal("e-ticket has no image/png part")
	}
	if qr.Disposition != "inline" || qr.ContentID == "" {
		t.Errorf("QR part disposition %q, Content-ID %q", qr.Disposition, qr.ContentID)
	}
	if !strings.Contains(p.HTML, "cid:"+qr.ContentID) {
		t.Errorf("HTML does not reference cid:%s", qr.ContentID)
	}
	if !bytes.HasPrefix(qr.Data, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("QR part is not a PNG: % x", qr.Data[:min(8, len(qr.Data))])
	}
}

func TestSMTPErrorClassification(t *testing.T) {
	for _, tc := range []struct {
		name      string
		reply     error
		code      int
		temporary bool
		inReply   string
	}{
		{"451 greylisted", mailtest.ReplyError(451, "4.7.1", "Greylisted, try again later"), 451, true, "451 4.7.1 Greylisted, try again later"},
		{"452 storage", mailtest.ReplyError(452, "4.3.1", "Insufficient system storage"), 452, true, "452 4.3.1"},
		{"550 no such user", mailtest.ReplyError(550, "5.1.1", "No such user here"), 550, false, "550 5.1.1 No such user here"},
		{"554 rejected", mailtest.ReplyError(554, "5.7.1", "Message rejected as spam"), 554, false, "554 5.7.1 Message rejected as spam"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := mailtest.Start(t, mailtest.Options{Reply: func(int) error { return tc.reply }})
			m := smtpMailer(t, srv, "none", "", "", nil)
			msg, err := newRenderer(t).Invoice(sampleBooking(1, "pending"))
			if err != nil {
				t.Fatal(err)
			}
			_, err = m.Send(context.Background(), msg)
			var se *mail.SendError
			if !errors.As(err, &se) {
				t.Fatalf("Send error = %v (%T), want *mail.SendError", err, err)
			}
			if se.Code != tc.code || se.Temporary != tc.temporary || mail.IsTemporary(err) != tc.temporary {
				t.Errorf("code %d temporary %v, want %d %v (%v)", se.Code, se.Temporary, tc.code, tc.temporary, err)
			}
			if !strings.HasPrefix(se.Reply, tc.inReply) {
				t.Errorf("Reply = %q, want it to start with %q", se.Reply, tc.inReply)
			}
			if srv.Accepted() != 0 {
				t.Errorf("server accepted %d messages", srv.Accepted())
			}
		})
	}
}

func TestSMTPNetworkErrorIsTemporary(t *testing.T) {
	// A port nobody listens on: connection refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	m, err := mail.NewSMTPMailer(mail.SMTPConfig{
		Host: "127.0.0.1", Port: port, Encryption: "none", Timeout: 2 * time.Second,
		From: mail.Address{Email: "noreply@tripintravel.com"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := newRenderer(t).Invoice(sampleBooking(1, "pending"))
	_, err = m.Send(context.Background(), msg)
	if err == nil || !mail.IsTemporary(err) {
		t.Fatalf("Send to a closed port: %v, want a temporary error", err)
	}
}

func TestSMTPWrongPasswordIsPermanentAndRedacted(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{Encryption: "tls", Username: "tripin", Password: "the-right-one"})
	m := smtpMailer(t, srv, "tls", "tripin", testPassword, nil)
	msg, _ := newRenderer(t).Invoice(sampleBooking(1, "pending"))
	_, err := m.Send(context.Background(), msg)
	if err == nil {
		t.Fatal("Send with a wrong password succeeded")
	}
	if mail.IsTemporary(err) {
		t.Errorf("535 authentication failure classified temporary: %v", err)
	}
	if !strings.Contains(err.Error(), "535") {
		t.Errorf("error lacks the server's 535 reply: %v", err)
	}
	if strings.Contains(err.Error(), testPassword) {
		t.Errorf("error contains the password: %v", err)
	}
	if srv.AuthFailures() != 1 {
		t.Errorf("server saw %d failed AUTH, want 1", srv.AuthFailures())
	}
}

func TestSMTPStartTLSRequired(t *testing.T) {
	// MAIL_ENCRYPTION=tls against a server without STARTTLS must not fall
	// back to plaintext.
	srv := mailtest.Start(t, mailtest.Options{})
	m := smtpMailer(t, srv, "tls", "", "", nil)
	msg, _ := newRenderer(t).Invoice(sampleBooking(1, "pending"))
	if _, err := m.Send(context.Background(), msg); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("Send = %v, want a STARTTLS error", err)
	}
	if srv.Accepted() != 0 {
		t.Errorf("message sent in plaintext")
	}
}

func TestSMTPTrace(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{Encryption: "tls", Username: "tripin", Password: testPassword})
	var trace bytes.Buffer
	m, err := mail.NewSMTPMailer(mail.SMTPConfig{
		Host: srv.Host, Port: srv.Port, Encryption: "tls", Username: "tripin", Password: testPassword,
		From: mail.Address{Email: "noreply@tripintravel.com"}, TLSConfig: srv.ClientTLSConfig(), Trace: &trace,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := newRenderer(t).Invoice(sampleBooking(1, "pending"))
	if _, err := m.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	out := trace.String()
	for _, want := range []string{"C: EHLO", "C: STARTTLS", "S: 220", "C: MAIL FROM:<noreply@tripintravel.com>", "S: 250"} {
		if !strings.Contains(out, want) {
			t.Errorf("trace lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, testPassword) {
		t.Errorf("trace contains the password:\n%s", out)
	}
}

func TestNewFromConfig(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	vals := srv.ConfigValues()
	cfg, err := config.FromMap(vals)
	if err != nil {
		t.Fatal(err)
	}
	m, err := mail.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.(*mail.SMTPMailer); !ok {
		t.Fatalf("MAIL_MAILER=smtp gave %T", m)
	}
	msg, _ := newRenderer(t).Invoice(sampleBooking(1, "pending"))
	if _, err := m.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	if srv.Accepted() != 1 {
		t.Errorf("accepted %d", srv.Accepted())
	}
	vals["MAIL_MAILER"] = "log"
	cfg, err = config.FromMap(vals)
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := mail.New(cfg, nil); m == nil {
		t.Fatal("no log mailer")
	} else if _, ok := m.(*mail.LogMailer); !ok {
		t.Fatalf("MAIL_MAILER=log gave %T", m)
	}
}

func TestSMTPNonASCII(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	m := smtpMailer(t, srv, "none", "", "", nil)
	b := sampleBooking(5, "pending")
	b.TourTitle = "Pantai Kuta – Sunset Café"
	b.CustomerName = "Dewi Ayu Lestari Ñ"
	msg, err := newRenderer(t).Invoice(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	p, err := srv.Messages()[0].Parse()
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != "Invoice TRP-7K2M9Q: Pantai Kuta – Sunset Café" || !strings.Contains(p.To, "Dewi Ayu Lestari Ñ") {
		t.Errorf("Subject %q, To %q", p.Subject, p.To)
	}
	if !strings.Contains(p.Text, "Pantai Kuta – Sunset Café") || !strings.Contains(p.HTML, "Pantai Kuta – Sunset Café") {
		t.Errorf("body lost the non-ASCII title")
	}
}

// TestSMTPSilentServerTimesOut is a server that accepts the connection and
// never greets: the send gives up after the timeout, as a temporary error.
func TestSMTPSilentServerTimesOut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan net.Conn, 16)
	t.Cleanup(func() {
		ln.Close()
		for {
			select {
			case c := <-conns:
				c.Close()
			default:
				return
			}
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c
		}
	}()
	m, err := mail.NewSMTPMailer(mail.SMTPConfig{
		Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, Encryption: "none",
		Timeout: 300 * time.Millisecond, From: mail.Address{Email: "noreply@tripintravel.com"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := newRenderer(t).Invoice(sampleBooking(1, "pending"))
	start := time.Now()
	_, err = m.Send(context.Background(), msg)
	if err == nil || !mail.IsTemporary(err) {
		t.Fatalf("Send to a silent server: %v, want a temporary error", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("gave up after %s, want about the 300ms timeout", took)
	}
}
