package mail

import (
	"context"
	"database/sql"
	"time"

	"github.com/tripintravel/tripin/internal/store"
)

// BookingMail is what the invoice and e-ticket need to know about one
// booking. The booking package fills it; mail never reads booking tables.
type BookingMail struct {
	BookingID     int64
	Code          string // the booking code, also Midtrans' order_id
	Status        string // pending, paid, expired, cancelled or refunded
	CustomerName  string
	CustomerEmail string

	TourTitle       string
	TourDestination string
	DepartureDate   time.Time // a calendar date; printed without zone conversion

	Quantity    int
	UnitPrice   int64 // whole rupiah
	TotalAmount int64 // whole rupiah

	CreatedAt time.Time
	ExpiresAt time.Time // the payment deadline
	PaidAt    time.Time // zero while unpaid

	// PaymentURL is where the customer pays. Empty means the default,
	// APP_URL + "/bookings/{id}/pay".
	PaymentURL string
	// TicketURL is where a paid customer sees the e-ticket. Empty means
	// APP_URL + "/api/bookings/{id}/ticket".
	TicketURL string
}

// BookingMailOf is the booking of r as its emails show it. Its payment
// link is its Snap page when it has one, else empty (the default link);
// its ticket link is empty (the default).
func BookingMailOf(r *store.BookingMailRow) *BookingMail {
	m := &BookingMail{
		BookingID: r.BookingID, Code: r.Code, Status: r.Status, CustomerName: r.CustomerName,
		CustomerEmail: r.CustomerEmail, TourTitle: r.TourTitle, TourDestination: r.TourDestination,
		DepartureDate: r.DepartureDate, Quantity: r.Quantity, UnitPrice: r.UnitPrice,
		TotalAmount: r.TotalAmount, CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt,
	}
	if r.PaidAt.Valid {
		m.PaidAt = r.PaidAt.Time
	}
	if r.SnapRedirectURL.Valid {
		m.PaymentURL = r.SnapRedirectURL.String
	}
	return m
}

// BookingLoader loads what an email needs about a booking. tx, when not
// nil, is the transaction the email's job was dispatched in, which the
// sync connection runs it inside (queue.Job.Tx): the booking may exist
// only there, so it is read through tx. Implementations return an error
// satisfying apperr.IsNotFound when the booking does not exist; the email
// job then fails for good instead of retrying.
type BookingLoader interface {
	MailData(ctx context.Context, tx *sql.Tx, bookingID int64) (*BookingMail, error)
}

// BookingLoaderFunc adapts a function to BookingLoader.
type BookingLoaderFunc func(ctx context.Context, tx *sql.Tx, bookingID int64) (*BookingMail, error)

// MailData calls f.
func (f BookingLoaderFunc) MailData(ctx context.Context, tx *sql.Tx, bookingID int64) (*BookingMail, error) {
	return f(ctx, tx, bookingID)
}
