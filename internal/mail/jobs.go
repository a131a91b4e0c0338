package mail

import (
	"strconv"
	"time"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/queue"
)

// QueueEmails is the queue of the email jobs.
const QueueEmails = "emails"

// The email jobs' shared retry policy (SPEC §5): 3 tries, 120 s each, and
// backoffs that give a greylisting or busy server time to recover.
const (
	emailTries   = 3
	emailTimeout = 120 * time.Second
)

var emailBackoff = []time.Duration{10 * time.Second, 30 * time.Second, 60 * time.Second}

// SendInvoiceEmail is the job that emails a new booking's invoice. It is
// inserted with InsertTx in the transaction that creates the booking, so
// the booking request never waits for SMTP. Its args hold only the booking
// ID: payloads are stored in clear and must carry no personal data or
// secrets.
type SendInvoiceEmail struct {
	BookingID int64 `json:"booking_id"`
	// Resend sends the invoice again even though it was sent before
	// (`tripin queue push SendInvoiceEmail --args '{"booking_id":7,"resend":true}'`).
	// The re-send is itself deduplicated across its job's retries.
	Resend bool `json:"resend,omitempty"`
}

// Kind names the job in payloads, logs and failed_jobs.
func (SendInvoiceEmail) Kind() string { return "SendInvoiceEmail" }

// Tags tag the job with its booking.
func (a SendInvoiceEmail) Tags() []string { return []string{booking.JobTag(a.BookingID)} }

// InsertOpts are the job's defaults: queue emails, 3 tries, 120 s timeout,
// backoff 10 s, 30 s, 60 s.
func (SendInvoiceEmail) InsertOpts() queue.InsertOpts {
	return queue.InsertOpts{Queue: QueueEmails, Tries: emailTries, Timeout: emailTimeout, Backoff: emailBackoff}
}

// SendETicketEmail is the job that emails the e-ticket of a paid booking.
// It is unique per booking while pending or running, so that duplicate
// payment notifications dispatch it once; the sent_emails record covers
// the time after it finished.
type SendETicketEmail struct {
	BookingID int64 `json:"booking_id"`
	// Resend sends the e-ticket again even though it was sent before.
	Resend bool `json:"resend,omitempty"`
}

// Kind names the job in payloads, logs and failed_jobs.
func (SendETicketEmail) Kind() string { return "SendETicketEmail" }

// Tags tag the job with its booking.
func (a SendETicketEmail) Tags() []string { return []string{booking.JobTag(a.BookingID)} }

// InsertOpts are the job's defaults: those of SendInvoiceEmail plus the
// unique key "eticket:<booking id>" (none for a re-send, which is meant to
// run even while another e-ticket job is pending).
func (a SendETicketEmail) InsertOpts() queue.InsertOpts {
	o := queue.InsertOpts{Queue: QueueEmails, Tries: emailTries, Timeout: emailTimeout, Backoff: emailBackoff}
	if a.BookingID != 0 && !a.Resend {
		o.UniqueKey = ETicketUniqueKey(a.BookingID)
	}
	return o
}

// ETicketUniqueKey is the unique key of a booking's e-ticket job.
func ETicketUniqueKey(bookingID int64) string {
	return "eticket:" + strconv.FormatInt(bookingID, 10)
}

// dedupeKey is the sent_emails key of a job: the kind itself, or for a
// re-send the kind and the job's UUID, stable across the job's retries.
func dedupeKey(kind string, resend bool, jobUUID string) string {
	if !resend {
		return kind
	}
	return kind + "/resend/" + jobUUID
}
