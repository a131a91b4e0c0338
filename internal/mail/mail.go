// Package mail sends Tripin's emails: the mailers (SMTP and log), the
// invoice and e-ticket templates, and the queue jobs that deliver them
// without ever making a booking request wait for an SMTP server.
//
// A job carries only a booking ID. The worker loads what the email needs
// through BookingLoader, renders it, skips it when the sent_emails table
// says it already went out, sends it, and records it. SMTP 4xx replies and
// network errors are retried by the queue; 5xx replies fail the job at once.
//
// Wiring, once per process and per transaction:
//
//	sender, err := mail.NewSenderFromConfig(cfg, db, loader, logger)
//	mail.AddWorkers(workers, sender)
//	// in the transaction that creates a booking:
//	err = mail.DispatchInvoiceTx(ctx, client, tx, bookingID)
//	// in the transaction that marks it paid:
//	err = mail.DispatchETicketTx(ctx, client, tx, bookingID)
package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/tripintravel/tripin/internal/config"
)

// Address is a mailbox: an email address and an optional display name.
type Address struct {
	Name  string
	Email string
}

// Inline is a file shown inside the HTML part and referenced from it as
// "cid:" + ContentID, such as the e-ticket's QR code.
type Inline struct {
	ContentID   string // without angle brackets
	Filename    string
	ContentType string
	Data        []byte
}

// Message is one rendered email, ready for a Mailer.
type Message struct {
	To      Address
	Subject string
	Text    string
	HTML    string
	Inline  []Inline
	// MessageID is the Message-ID header's value without angle brackets. It
	// is deterministic per booking and kind so that, in the rare case a
	// message is sent twice, receivers that collapse duplicate Message-IDs
	// (Gmail does) show it once. Empty means a random one.
	MessageID string
}

// Receipt is what a Mailer reports for an accepted message.
type Receipt struct {
	// MessageID is the Message-ID header as sent, with angle brackets.
	MessageID string
	// Reply is the server's answer to the end of DATA (for example
	// "2.0.0 Ok: queued as 4F1A2"), empty for the log mailer.
	Reply string
}

// Mailer delivers messages. Send returns a *SendError for a failed
// delivery, which says whether a retry may succeed.
type Mailer interface {
	Send(ctx context.Context, msg *Message) (*Receipt, error)
}

// SendError is a failed delivery. Code is the SMTP reply code when the
// server answered (0 for network and local errors) and Reply the server's
// answer as received. Temporary is false only when retrying the same
// message cannot succeed: an SMTP 5xx reply or a message that cannot be
// built.
type SendError struct {
	Code      int
	Reply     string
	Temporary bool
	Err       error
}

func (e *SendError) Error() string { return "mail: send: " + e.Err.Error() }

func (e *SendError) Unwrap() error { return e.Err }

// IsTemporary reports whether err is a delivery failure that a later retry
// may fix: an SMTP 4xx reply, a network error or any error that is not a
// *SendError (a database hiccup while loading the booking, for example).
func IsTemporary(err error) bool {
	if err == nil {
		return false
	}
	var se *SendError
	if errors.As(err, &se) {
		return se.Temporary
	}
	return true
}

// New returns the mailer MAIL_MAILER selects: the SMTP mailer or the log
// mailer writing whole messages to logger.
func New(cfg *config.Config, logger *slog.Logger) (Mailer, error) {
	switch cfg.MailMailer {
	case "smtp":
		return NewSMTPMailer(SMTPConfigFrom(cfg), logger)
	case "log":
		return NewLogMailer(From(cfg), logger), nil
	}
	return nil, fmt.Errorf("mail: unknown mailer %q", cfg.MailMailer)
}

// From returns the configured sender address.
func From(cfg *config.Config) Address {
	return Address{Name: cfg.MailFromName, Email: cfg.MailFromAddress}
}

// messageIDDomain is the right-hand side of the Message-IDs Tripin makes:
// the sender's domain, so that IDs are globally unique per deployment.
func messageIDDomain(from string) string {
	if i := strings.LastIndexByte(from, '@'); i >= 0 && i < len(from)-1 {
		return from[i+1:]
	}
	return "tripin.invalid"
}
