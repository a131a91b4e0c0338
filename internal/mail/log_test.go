package mail_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/tripintravel/tripin/internal/mail"
	"github.com/tripintravel/tripin/internal/mail/mailtest"
)

func TestLogMailerWritesWholeMessage(t *testing.T) {
	lb := &logBuffer{}
	logger := slog.New(slog.NewJSONHandler(lb, nil))
	m := mail.NewLogMailer(mail.Address{Name: "Tripin Travel", Email: "noreply@tripintravel.com"}, logger)
	msg, err := newRenderer(t).ETicket(sampleBooking(42, "paid"))
	if err != nil {
		t.Fatal(err)
	}
	msg.MessageID = "eticket.TRP-7K2M9Q@tripintravel.com"
	rc, err := m.Send(context.Background(), msg)
	if err != nil {
		t.Fatal(err)
	}
	if rc.MessageID != "<eticket.TRP-7K2M9Q@tripintravel.com>" {
		t.Errorf("receipt id %q", rc.MessageID)
	}
	var rec struct {
		Msg     string `json:"msg"`
		To      string `json:"to"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(lb.String())), &rec); err != nil {
		t.Fatalf("log is not one JSON record: %v\n%s", err, lb)
	}
	if rec.To != "siti@example.com" {
		t.Errorf("to = %q", rec.To)
	}
	// The logged text is the message as it would go over SMTP: it parses
	// like a received one, with both parts and the QR image.
	p, err := mailtest.Parse([]byte(rec.Message))
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != "Your e-ticket TRP-7K2M9Q: Bromo Sunrise Trip" || !strings.Contains(p.Text, "Rp1.500.000") ||
		!strings.Contains(p.HTML, "TRP-7K2M9Q") {
		t.Errorf("logged message: subject %q, text %q", p.Subject, p.Text)
	}
	checkQRInline(t, p)
}
