package mail

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"

	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver"
)

// NewSenderFromConfig wires the configured mailer (MAIL_MAILER), the
// templates (MAIL_TEMPLATES_DIR, APP_URL, APP_TIMEZONE) and the
// sent_emails table of db into a Sender.
func NewSenderFromConfig(cfg *config.Config, db *store.DB, bookings BookingLoader, logger *slog.Logger) (*Sender, error) {
	mailer, err := New(cfg, logger)
	if err != nil {
		return nil, err
	}
	renderer, err := NewRenderer(RendererParamsFrom(cfg))
	if err != nil {
		return nil, err
	}
	return NewSender(SenderParams{
		Mailer: mailer, Renderer: renderer, Bookings: bookings, Sent: NewSentStore(db),
		Logger: logger, FromAddress: cfg.MailFromAddress,
	})
}

// AddWorkers registers the workers of SendInvoiceEmail and
// SendETicketEmail, both delivering through s.
func AddWorkers(ws *queue.Workers, s *Sender) {
	queue.AddWorker[SendInvoiceEmail](ws, &InvoiceWorker{Sender: s})
	queue.AddWorker[SendETicketEmail](ws, &ETicketWorker{Sender: s})
}

// InvoiceWorker works SendInvoiceEmail jobs.
type InvoiceWorker struct {
	Sender *Sender
}

// Work sends the invoice of the job's booking.
func (w *InvoiceWorker) Work(ctx context.Context, job *queue.Job[SendInvoiceEmail]) error {
	return w.Sender.work(ctx, job.Tx, KindInvoice, job.Args.BookingID, job.Args.Resend, job.JobRow)
}

// ETicketWorker works SendETicketEmail jobs.
type ETicketWorker struct {
	Sender *Sender
}

// Work sends the e-ticket of the job's booking.
func (w *ETicketWorker) Work(ctx context.Context, job *queue.Job[SendETicketEmail]) error {
	return w.Sender.work(ctx, job.Tx, KindETicket, job.Args.BookingID, job.Args.Resend, job.JobRow)
}

// work runs one email job and marks failures that a retry cannot fix as
// permanent, so the queue moves the job to failed_jobs at once instead of
// spending its remaining tries.
func (s *Sender) work(ctx context.Context, tx *sql.Tx, kind string, bookingID int64, resend bool, row *driver.JobRow) error {
	if bookingID <= 0 {
		return queue.Permanent(errors.New("mail: job args: booking_id is missing"))
	}
	req := SendRequest{Kind: kind, BookingID: bookingID, Tx: tx}
	uuid := ""
	if row != nil {
		req.Attempt, uuid = row.Attempts, row.UUID
	}
	if resend && uuid == "" {
		return queue.Permanent(errors.New("mail: a re-send needs the job's UUID"))
	}
	req.Key = dedupeKey(kind, resend, uuid)
	err := s.Send(ctx, req)
	if err != nil && !IsTemporary(err) {
		return queue.Permanent(err)
	}
	return err
}

// TxInserter inserts a job inside a transaction; *queue.Client is one.
type TxInserter interface {
	InsertTx(ctx context.Context, tx *sql.Tx, args queue.JobArgs, opts *queue.InsertOpts) (*queue.InsertResult, error)
}

// DispatchInvoiceTx inserts the SendInvoiceEmail job of a booking inside
// the transaction that creates it: the email exists only if the booking
// does, and the request makes no network call. With QUEUE_CONNECTION=sync
// the job runs at once, inside tx, and reads the booking through it.
func DispatchInvoiceTx(ctx context.Context, client TxInserter, tx *sql.Tx, bookingID int64) error {
	if _, err := client.InsertTx(ctx, tx, SendInvoiceEmail{BookingID: bookingID}, nil); err != nil {
		return fmt.Errorf("mail: dispatch invoice of booking %d: %w", bookingID, err)
	}
	return nil
}

// DispatchETicketTx inserts the SendETicketEmail job of a booking inside
// the transaction that marks it paid. Duplicate payment notifications may
// call it as often as they like: the job's unique key keeps one pending,
// and the sent_emails record stops a second email after it ran.
func DispatchETicketTx(ctx context.Context, client TxInserter, tx *sql.Tx, bookingID int64) error {
	if _, err := client.InsertTx(ctx, tx, SendETicketEmail{BookingID: bookingID}, nil); err != nil {
		return fmt.Errorf("mail: dispatch e-ticket of booking %d: %w", bookingID, err)
	}
	return nil
}
