package mail

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/tripintravel/tripin/internal/apperr"
)

// SenderParams are the parts a Sender works with.
type SenderParams struct {
	Mailer   Mailer
	Renderer *Renderer
	Bookings BookingLoader
	Sent     SentLog
	Logger   *slog.Logger
	// FromAddress gives the domain of the Message-IDs (MAIL_FROM_ADDRESS).
	FromAddress string
	// Now stamps sent records; nil means time.Now.
	Now func() time.Time
}

// Sender delivers booking emails exactly once as far as SMTP allows: it
// loads the booking, renders the email, skips it when already recorded as
// sent, sends it and records it. The email jobs call it; so may tests.
type Sender struct {
	p SenderParams
}

// NewSender checks p and returns a Sender.
func NewSender(p SenderParams) (*Sender, error) {
	switch {
	case p.Mailer == nil:
		return nil, errors.New("mail: sender: no mailer")
	case p.Renderer == nil:
		return nil, errors.New("mail: sender: no renderer")
	case p.Bookings == nil:
		return nil, errors.New("mail: sender: no booking loader")
	case p.Sent == nil:
		return nil, errors.New("mail: sender: no sent log")
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	return &Sender{p: p}, nil
}

// SendRequest names one booking email to deliver.
type SendRequest struct {
	Kind      string // KindInvoice or KindETicket
	BookingID int64
	// Key is the deduplication key recorded in sent_emails; empty means
	// Kind. An explicit re-send uses its own key so it is sent once more,
	// and only once, however often its job is retried.
	Key string
	// Attempt is the job's attempt number, for the logs.
	Attempt int
	// Tx, when not nil, is the transaction the job was dispatched in,
	// which the sync connection runs it inside (queue.Job.Tx): the
	// booking is read, and the send recorded, through it.
	Tx *sql.Tx
}

// Send delivers the email of r. It returns nil when the email was sent or
// had already been sent, and otherwise an error that IsTemporary
// classifies: SMTP 4xx replies and network errors are temporary, SMTP 5xx
// replies, unknown bookings and broken templates are not.
//
// Why this gives no duplicates except in one narrow window: the record is
// written only after the server answered 250 to the end of DATA, and the
// next attempt checks it before sending. A crash, a lost job completion or
// an expired lease after that point therefore never sends again. What
// remains is the instant between the server's 250 and the record's commit
// (or a connection lost after the server took the message but before its
// 250 reached us): a crash there re-sends once. SMTP has no idempotency
// key or "did you receive message X?" command, so no client can close that
// window; recording before sending would instead lose the email whenever
// the send then failed. The Message-ID is the same on every attempt, so
// receivers that collapse duplicate Message-IDs hide even that one. Two
// executions of one job at the same time are the queue's to prevent (its
// lease, extended by heartbeats), and two e-ticket jobs of one booking the
// job's unique key's.
func (s *Sender) Send(ctx context.Context, r SendRequest) error {
	key := r.Key
	if key == "" {
		key = r.Kind
	}
	log := s.p.Logger.With("email", r.Kind, "booking_id", r.BookingID)
	if r.Attempt > 0 {
		log = log.With("attempt", r.Attempt)
	}
	sent, err := s.p.Sent.WasSent(ctx, r.Tx, r.BookingID, key)
	if err != nil {
		return fmt.Errorf("mail: %w", err)
	}
	if sent {
		log.InfoContext(ctx, "Email already sent; not sending again", "key", key)
		return nil
	}
	b, err := s.p.Bookings.MailData(ctx, r.Tx, r.BookingID)
	if err != nil {
		err = fmt.Errorf("mail: load booking %d: %w", r.BookingID, err)
		if apperr.IsNotFound(err) {
			return &SendError{Err: err}
		}
		return err
	}
	log = log.With("booking_code", b.Code)
	if skip, why := skipFor(b.Status); skip {
		log.InfoContext(ctx, "Email not sent: "+why, "status", b.Status)
		return nil
	}
	if r.Kind == KindETicket && b.Status == "pending" {
		return fmt.Errorf("mail: e-ticket for booking %s: the booking is not paid yet", b.Code)
	}
	msg, err := s.p.Renderer.Render(r.Kind, b)
	if err != nil {
		return &SendError{Err: err}
	}
	msg.MessageID = messageID(key, b.Code, s.p.FromAddress)
	receipt, err := s.p.Mailer.Send(ctx, msg)
	if err != nil {
		s.logFailure(ctx, log, r.Kind, b, msg, err)
		return err
	}
	rec := &SentEmail{
		BookingID: r.BookingID, Kind: key, MessageID: receipt.MessageID,
		Recipient: msg.To.Email, Reply: receipt.Reply, SentAt: s.p.Now(),
	}
	if err := s.record(ctx, r.Tx, rec); err != nil {
		// The server has the message. Returning an error would make the
		// queue retry and send it a second time for certain, so the job
		// succeeds and the missing record is only logged.
		log.ErrorContext(ctx, "Email sent but not recorded; a re-dispatch would send it again",
			"message_id", receipt.MessageID, "err", err)
		return nil
	}
	log.InfoContext(ctx, "Email sent", "to", msg.To.Email, "message_id", receipt.MessageID, "reply", receipt.Reply)
	return nil
}

// record writes the sent record, retrying briefly: by now the email is
// out, and a lost record means a duplicate on the next dispatch. It uses a
// context detached from the job's so that a job timeout striking right
// after the send does not also cancel the record.
func (s *Sender) record(ctx context.Context, tx *sql.Tx, rec *SentEmail) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	var err error
	for i, wait := range []time.Duration{0, 100 * time.Millisecond, 500 * time.Millisecond, 2 * time.Second} {
		if i > 0 {
			select {
			case <-ctx.Done():
				return errors.Join(err, ctx.Err())
			case <-time.After(wait):
			}
		}
		if err = s.p.Sent.RecordSent(ctx, tx, rec); err == nil {
			return nil
		}
	}
	return err
}

// logFailure writes the "Failed to send" line: the booking code and the
// server's reply, at error level when the failure is permanent. Mailers
// never put the SMTP password in their errors, and the reply is the
// server's own text.
func (s *Sender) logFailure(ctx context.Context, log *slog.Logger, kind string, b *BookingMail, msg *Message, err error) {
	level, reply, code := slog.LevelWarn, err.Error(), 0
	var se *SendError
	if errors.As(err, &se) {
		reply, code = se.Reply, se.Code
		if reply == "" {
			reply = se.Err.Error()
		}
	}
	permanent := !IsTemporary(err)
	if permanent {
		level = slog.LevelError
	}
	log.Log(ctx, level, fmt.Sprintf("Failed to send %s email for booking %s: %s", kindName(kind), b.Code, reply),
		"to", msg.To.Email, "smtp_code", code, "reply", reply, "permanent", permanent)
}

// kindName spells an email kind for people.
func kindName(kind string) string {
	if kind == KindETicket {
		return "e-ticket"
	}
	return kind
}

// skipFor says whether an email no longer makes sense for a booking in
// status: an invoice asks for a payment that an expired, cancelled or
// refunded booking cannot take, and an e-ticket for a booking that is no
// longer paid would admit someone without a seat.
func skipFor(status string) (bool, string) {
	switch status {
	case "expired", "cancelled", "refunded":
		return true, "the booking is " + status
	}
	return false, ""
}

// messageID builds the deterministic Message-ID of one email: the same on
// every attempt, different for each booking, kind and re-send.
func messageID(key, code, from string) string {
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			switch {
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
				return r
			}
			return '.'
		}, s)
	}
	return clean(key) + "." + clean(code) + "@" + messageIDDomain(from)
}
