package mail_test

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/tripintravel/tripin/internal/apperr"
	"github.com/tripintravel/tripin/internal/mail"
	"github.com/tripintravel/tripin/internal/mail/mailtest"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

const testPassword = "s3cret-Pa55word!"

// fakeBookings is the BookingLoader of the tests: bookings by ID.
type fakeBookings map[int64]*mail.BookingMail

func (f fakeBookings) MailData(_ context.Context, _ *sql.Tx, id int64) (*mail.BookingMail, error) {
	b, ok := f[id]
	if !ok {
		return nil, apperr.Errorf(apperr.ENOTFOUND, "booking %d not found", id)
	}
	cp := *b
	return &cp, nil
}

var jakarta = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Jakarta")
	if err != nil {
		panic(err)
	}
	return loc
}()

// sampleBooking is a booking of 3 seats at Rp500.000, made on Friday
// 27 Nov 2026 at 13:00 WIB (06:00 UTC).
func sampleBooking(id int64, status string) *mail.BookingMail {
	created := time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)
	b := &mail.BookingMail{
		BookingID:       id,
		Code:            "TRP-7K2M9Q",
		Status:          status,
		CustomerName:    "Siti Rahma",
		CustomerEmail:   "siti@example.com",
		TourTitle:       "Bromo Sunrise Trip",
		TourDestination: "Bromo, East Java",
		DepartureDate:   time.Date(2026, 12, 15, 0, 0, 0, 0, time.UTC),
		Quantity:        3,
		UnitPrice:       500000,
		TotalAmount:     1500000,
		CreatedAt:       created,
		ExpiresAt:       created.Add(30 * time.Minute),
	}
	if status == "paid" {
		b.PaidAt = created.Add(20 * time.Minute)
	}
	return b
}

func newRenderer(t testing.TB) *mail.Renderer {
	t.Helper()
	r, err := mail.NewRenderer(mail.RendererParams{
		AppName: "Tripin Travel", AppURL: "https://tripin.example/", Location: jakarta,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// logBuffer is a concurrency-safe buffer behind a JSON slog handler.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newLogger() (*slog.Logger, *logBuffer) {
	lb := &logBuffer{}
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}

// smtpMailer returns an SMTP mailer pointed at srv, with srv's credentials
// (if any) and TLS trust.
func smtpMailer(t testing.TB, srv *mailtest.Server, encryption, username, password string, logger *slog.Logger) *mail.SMTPMailer {
	t.Helper()
	m, err := mail.NewSMTPMailer(mail.SMTPConfig{
		Host: srv.Host, Port: srv.Port, Encryption: encryption,
		Username: username, Password: password,
		From:      mail.Address{Name: "Tripin Travel", Email: "noreply@tripintravel.com"},
		Timeout:   10 * time.Second,
		TLSConfig: srv.ClientTLSConfig(),
	}, logger)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// fixture is a Sender wired to a real database and an in-test SMTP server.
type fixture struct {
	db     *store.DB
	srv    *mailtest.Server
	sender *mail.Sender
	sent   *mail.SentStore
	logs   *logBuffer
}

func newFixture(t *testing.T, d store.Dialect, opts mailtest.Options, bookings fakeBookings) *fixture {
	t.Helper()
	db := storetest.Open(t, d)
	srv := mailtest.Start(t, opts)
	logger, logs := newLogger()
	enc := opts.Encryption
	if enc == "" {
		enc = "none"
	}
	sent := mail.NewSentStore(db)
	s, err := mail.NewSender(mail.SenderParams{
		Mailer:   smtpMailer(t, srv, enc, opts.Username, opts.Password, logger),
		Renderer: newRenderer(t), Bookings: bookings, Sent: sent,
		Logger: logger, FromAddress: "noreply@tripintravel.com",
	})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{db: db, srv: srv, sender: s, sent: sent, logs: logs}
}
