// Package payment takes bookings' payments through Midtrans: it creates the
// Snap transaction a customer pays with, and it turns Midtrans' HTTP
// notifications into booking state changes with a forward-only, idempotent
// state machine. It also offers the payment simulator (only where it is
// safe, behind signed links or the booking's owner), the e-ticket page, and
// the job that expires the Snap transaction of a booking that was cancelled
// or expired.
//
// A notification is applied only once its signature verifies, its
// status_code fits its transaction_status, its gross_amount is the
// booking's total and, unless MIDTRANS_VERIFY_STATUS is off, Midtrans'
// Status API has confirmed the transaction's status: that answer, not the
// notification, is what the state machine acts on. The state machine,
// under the booking's row lock:
//
//	notification                    pending          paid        expired/cancelled/failed   refunded
//	settlement, capture+accept      paid (+e-ticket) duplicate   paid again if seats are    ignored
//	                                                             left and the tour has not
//	                                                             departed, else needs_refund
//	pending, authorize              pending          ignored     ignored                    ignored
//	capture+challenge (or no fraud) challenge        ignored     ignored                    ignored
//	deny, failure, capture+deny     failed,          ignored     ignored                    ignored
//	                                seats back
//	cancel                          cancelled,       ignored     ignored                    ignored
//	                                seats back
//	expire                          expired,         ignored     ignored                    ignored
//	                                seats back
//	refund                          refunded,        refunded,   refunded, needs_refund     duplicate
//	                                seats back       seats back  cleared (held no seats)
//	partial_refund                  ignored          stays paid  recorded                   ignored
//	                                                 (recorded)
//
// A tour "has departed" from its departure date (in APP_TIMEZONE): its
// seats are never sold again, not even to a late payment of a booking that
// once held them.
//
// A partial refund keeps a paid booking paid and its seats held: the
// customer still travels (a fee or one of several travellers was refunded),
// and the booking's quantity is not ours to guess; operations adjust it.
// Unknown transaction statuses (chargeback, …) are stored and ignored.
package payment

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tripintravel/tripin/internal/apperr"
	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/payment/midtrans"
	"github.com/tripintravel/tripin/internal/store"
)

// Booking statuses, as stored in bookings.status.
const (
	BookingPending   = "pending"
	BookingPaid      = "paid"
	BookingExpired   = "expired"
	BookingCancelled = "cancelled"
	BookingFailed    = "failed"
	BookingRefunded  = "refunded"
)

// Outcome is what a notification led to. It is stored in
// payment_notifications.outcome and answered to the caller.
type Outcome string

// The outcomes of HandleNotification.
const (
	OutcomePaid           Outcome = "paid"            // a pending booking was paid
	OutcomePaidLate       Outcome = "paid_late"       // an expired or cancelled booking took its seats again
	OutcomeNeedsRefund    Outcome = "needs_refund"    // paid too late and sold out: flagged, operations notified
	OutcomeDuplicate      Outcome = "duplicate"       // the booking is already in the state this asks for
	OutcomePending        Outcome = "pending"         // the payment is under way; nothing changes
	OutcomeChallenge      Outcome = "challenge"       // a card capture awaits fraud review; stays pending
	OutcomeCancelled      Outcome = "cancelled"       // cancel released a pending booking
	OutcomeFailed         Outcome = "failed"          // deny or failure released a pending booking
	OutcomeExpired        Outcome = "expired"         // the Snap transaction expired; pending booking released
	OutcomeRefunded       Outcome = "refunded"        // the booking was refunded
	OutcomePartialRefund  Outcome = "partial_refund"  // recorded; the booking keeps its status
	OutcomeIgnored        Outcome = "ignored"         // stale, out of order or unknown status; nothing changes
	OutcomeBadSignature   Outcome = "bad_signature"   // rejected: 403
	OutcomeUnknownOrder   Outcome = "unknown_order"   // rejected: 404
	OutcomeAmountMismatch Outcome = "amount_mismatch" // rejected: gross_amount is not the booking total
	OutcomeMalformed      Outcome = "malformed"       // rejected: 400
	OutcomeStatusMismatch Outcome = "status_mismatch" // rejected: status_code does not fit transaction_status
	// OutcomeUnknownTransaction is a signed notification for an order the
	// Status API does not know: rejected, 404.
	OutcomeUnknownTransaction Outcome = "unknown_transaction"
	OutcomeStatusCheck        Outcome = "status_check_failed" // the Status API could not be asked: 503, Midtrans retries
	OutcomeError              Outcome = "error"               // processing failed (nothing changed); Midtrans retries
	// OutcomeThrottled answers an address past its limit of rejected
	// notifications: 429, nothing stored.
	OutcomeThrottled Outcome = "throttled"
)

// LatePayment describes a payment that arrived after its booking had given
// its seats away and could not take them again: they were sold, or the
// tour has departed. The booking is flagged needs_refund; OnLatePayment
// tells operations.
type LatePayment struct {
	BookingID     int64
	Code          string
	TourID        int64
	Quantity      int64
	Amount        int64
	Status        string // the booking's status: expired, cancelled or failed
	TransactionID string
	PaymentType   string
	// Departed is true when the tour had already departed, so the booking
	// could not take its seats again whatever was left.
	Departed bool
}

// tourDeparted reports whether a tour departs today or earlier, in
// APP_TIMEZONE: the day it stops taking bookings. The date is read without
// a lock; it does not change once a tour has bookings that matter here.
func (s *Service) tourDeparted(ctx context.Context, tx *sql.Tx, tourID int64) (bool, error) {
	var dep flexTime
	err := tx.QueryRowContext(ctx, store.Rebind(s.db.Dialect, "SELECT departure_date FROM tours WHERE id = ?"), tourID).Scan(&dep)
	if err != nil {
		return false, fmt.Errorf("payment: read departure of tour %d: %w", tourID, err)
	}
	loc := s.cfg.AppTimezone
	if loc == nil {
		loc = time.UTC
	}
	// A DATE comes back as midnight UTC (or as text): its calendar date
	// is the departure day, compared with today where the tours run.
	return time.Time(dep).UTC().Format(time.DateOnly) <= s.now().In(loc).Format(time.DateOnly), nil
}

// Params are the dependencies of a Service.
type Params struct {
	DB     *store.DB
	Config *config.Config
	// Client calls Midtrans; nil builds one from Config.
	Client *midtrans.Client
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OnPaidTx runs inside the transaction that marks a booking paid, so
	// that the e-ticket job commits with the payment (wire it to
	// mail.DispatchETicketTx). It runs once per booking that becomes paid,
	// never for duplicates. It must not open another transaction.
	OnPaidTx func(ctx context.Context, tx *sql.Tx, bookingID int64) error
	// OnLatePaymentTx runs inside the transaction that flags a booking
	// needs_refund, so that what it records (the operators' notification)
	// commits with the flag or not at all; an error rolls the whole
	// notification back and Midtrans sends it again. It runs once per
	// booking, never for duplicates, and must not open another transaction.
	OnLatePaymentTx func(ctx context.Context, tx *sql.Tx, p LatePayment) error
	// OnLatePayment is called after the commit that flagged a booking
	// needs_refund. It should be quick or hand off to a job; errors are its
	// own to log. The flag is in the database either way.
	OnLatePayment func(ctx context.Context, p LatePayment)
	// Limiter counts rejected notifications per sender and stored, across
	// servers (PAYMENT_REJECTED_RATE_LIMIT, PAYMENT_REJECTED_STORE_LIMIT);
	// nil counts nothing and stores every rejected one, bounded in size.
	Limiter RateLimiter
	// Links signs the links that open without a login (the e-ticket and
	// payment simulator links); nil signs them with HMAC-SHA256 under
	// APP_KEY (Config.LinkKey).
	Links LinkSigner
}

// Service takes payments. Create it with New.
type Service struct {
	db            *store.DB
	cfg           *config.Config
	client        *midtrans.Client
	serverKey     string
	log           *slog.Logger
	now           func() time.Time
	onPaidTx      func(ctx context.Context, tx *sql.Tx, bookingID int64) error
	onLatePayment func(ctx context.Context, p LatePayment)
	onLateTx      func(ctx context.Context, tx *sql.Tx, p LatePayment) error
	// claimStale is how old a Snap claim must be before another request
	// may take it over; it exceeds the client's timeout.
	claimStale time.Duration

	limiter              RateLimiter
	rejectedPerMinute    int
	rejectedStorePerHour int
	links                LinkSigner
}

// NewClient returns a Midtrans client configured from cfg.
func NewClient(cfg *config.Config) *midtrans.Client {
	return &midtrans.Client{ServerKey: cfg.MidtransServerKey, SnapURL: cfg.MidtransSnapURL, APIURL: cfg.MidtransAPIURL}
}

// New returns a Service. The Midtrans server key must be set: with an empty
// key anyone could sign notifications. For local runs without keys,
// midtranstest.StartLocal starts a fake Midtrans with a made-up key; put
// its key and URL into the configuration before calling New.
func New(p Params) (*Service, error) {
	if p.DB == nil || p.Config == nil {
		return nil, errors.New("payment: DB and Config are required")
	}
	if p.Config.MidtransServerKey == "" {
		return nil, errors.New("payment: MIDTRANS_SERVER_KEY is empty")
	}
	s := &Service{
		db: p.DB, cfg: p.Config, client: p.Client, serverKey: p.Config.MidtransServerKey, log: p.Logger,
		now: p.Now, onPaidTx: p.OnPaidTx, onLatePayment: p.OnLatePayment, onLateTx: p.OnLatePaymentTx,
		limiter: p.Limiter, rejectedPerMinute: p.Config.PaymentRejectedRateLimit,
		rejectedStorePerHour: p.Config.PaymentRejectedStoreLimit, links: p.Links,
	}
	if s.links == nil {
		s.links = HMACSigner{Key: p.Config.LinkKey()}
	}
	if s.client == nil {
		s.client = NewClient(p.Config)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	timeout := s.client.Timeout
	if timeout <= 0 {
		timeout = midtrans.DefaultTimeout
	}
	s.claimStale = timeout + 5*time.Second
	return s, nil
}

// event is a notification reduced to what the state machine acts on.
type event int

const (
	evIgnore event = iota
	evPaid
	evPending
	evChallenge
	evFailed
	evExpired
	evRefund
	evPartialRefund
)

// classify maps Midtrans' transaction and fraud statuses to an event. A
// capture counts as paid only with fraud_status accept.
func classify(transactionStatus, fraudStatus string) event {
	switch transactionStatus {
	case midtrans.StatusSettlement:
		return evPaid
	case midtrans.StatusCapture:
		switch fraudStatus {
		case midtrans.FraudAccept:
			return evPaid
		case midtrans.FraudDeny:
			return evFailed
		default:
			return evChallenge
		}
	case midtrans.StatusPending, midtrans.StatusAuthorize:
		return evPending
	case midtrans.StatusDeny, midtrans.StatusCancel, midtrans.StatusFailure:
		return evFailed
	case midtrans.StatusExpire:
		return evExpired
	case midtrans.StatusRefund:
		return evRefund
	case midtrans.StatusPartialRefund:
		return evPartialRefund
	}
	return evIgnore
}

// HandleNotification verifies, stores and applies one Midtrans HTTP
// notification that came from no known address; Receive is the same with
// the sender's address, which the HTTP handler always knows.
func (s *Service) HandleNotification(ctx context.Context, raw []byte) (Outcome, error) {
	return s.Receive(ctx, Delivery{Body: raw})
}

// Delivery is one notification as it arrived.
type Delivery struct {
	// Body is the raw request body.
	Body []byte
	// RemoteIP is the address of the client that sent it (after the
	// server's proxy rules); rejected notifications are limited per
	// address. Empty when unknown.
	RemoteIP string
}

// Receive verifies, stores and applies one Midtrans HTTP notification.
//
// It is checked in order of cost, and a notification that fails a check
// changes nothing: the body must decode (EMALFORMED), carry a valid
// signature (EFORBIDDEN), a status_code that fits its transaction_status
// (EINVALID), name a booking (ENOTFOUND) and its total (EINVALID). Then,
// unless MIDTRANS_VERIFY_STATUS is off, Midtrans' Status API is asked for
// the transaction's current status and that answer, not the notification,
// is applied: the signature does not cover transaction_status. A Status
// API that cannot be reached answers EUNAVAILABLE, so that Midtrans sends
// the notification again; one that does not know the transaction rejects
// it (ENOTFOUND).
//
// A rejected notification is stored as a bounded record (the body's
// SHA-256, its first RejectedPayloadBytes, the reason and the address),
// within PAYMENT_REJECTED_STORE_LIMIT an hour; an address past
// PAYMENT_REJECTED_RATE_LIMIT rejections a minute is answered
// ERATELIMITED (with a RetryAfterError inside) and nothing of it is
// stored. Every other notification is stored whole, in the transaction of
// what it changed. Duplicates succeed with OutcomeDuplicate or
// OutcomeIgnored.
func (s *Service) Receive(ctx context.Context, d Delivery) (Outcome, error) {
	return s.handle(ctx, d, s.cfg.MidtransVerifyStatus)
}

// handle is Receive, with the Status API check on or off: the simulator's
// own notifications, which Midtrans never saw, skip it.
func (s *Service) handle(ctx context.Context, d Delivery, confirm bool) (Outcome, error) {
	received := s.now().UTC()
	rec := newRecord(d, received)
	n, err := midtrans.DecodeNotification(d.Body)
	if err != nil {
		return s.reject(ctx, rec, OutcomeMalformed, err.Error(),
			&apperr.Error{Code: apperr.EMALFORMED, Message: "The notification is not valid JSON with the required fields.", Err: err})
	}
	rec.OrderID, rec.TransactionID, rec.TransactionStatus = n.OrderID, n.TransactionID, n.TransactionStatus
	rec.StatusCode, rec.GrossAmount, rec.FraudStatus = n.StatusCode, n.GrossAmount, n.FraudStatus
	if !midtrans.VerifySignature(n, s.serverKey) {
		return s.reject(ctx, rec, OutcomeBadSignature, "the signature_key does not verify",
			apperr.Errorf(apperr.EFORBIDDEN, "The notification signature is invalid."))
	}
	rec.SignatureValid = true
	// transaction_status and fraud_status are not covered by the
	// signature, status_code is: a signed pending (201), deny (202) or
	// expire (407) replayed with its status rewritten shows here. The
	// statuses that share a code with the original are left to the
	// Status API check.
	if !midtrans.StatusCodeFits(n.StatusCode, n.TransactionStatus, n.FraudStatus) {
		return s.reject(ctx, rec, OutcomeStatusMismatch,
			fmt.Sprintf("status_code %s does not fit transaction_status %s", clip(n.StatusCode, 16), clip(n.TransactionStatus, 32)),
			&apperr.Error{Code: apperr.EINVALID, Message: "status_code does not match transaction_status.",
				Fields: map[string]string{"status_code": "does not match transaction_status"}})
	}
	// Cheap checks against the booking before anything calls Midtrans:
	// an unknown order or a wrong amount costs one read.
	b, err := getBookingByCode(ctx, s.db.Read, s.db.Dialect, n.OrderID)
	switch {
	case errors.Is(err, errNoBooking):
		return s.reject(ctx, rec, OutcomeUnknownOrder, "no booking has this order_id",
			apperr.Errorf(apperr.ENOTFOUND, "No booking has this order_id."))
	case err != nil:
		return s.failed(ctx, rec, n.OrderID, err)
	}
	if reject := amountMismatch(n.GrossAmount, b.TotalAmount); reject != nil {
		return s.reject(ctx, rec, OutcomeAmountMismatch, "gross_amount "+clip(n.GrossAmount, 32)+" is not the booking total", reject)
	}
	if confirm {
		st, out, reason, err := s.confirm(ctx, n)
		if err != nil {
			if out == OutcomeStatusCheck {
				rec.Outcome, rec.Reason, rec.ProcessedAt = out, reason, &received
				if serr := s.storeNotification(ctx, rec); serr != nil {
					return out, serr
				}
				s.log.ErrorContext(ctx, "payment: status check failed", "order_id", n.OrderID, "err", err)
				return out, err
			}
			return s.reject(ctx, rec, out, reason, err)
		}
		if reject := amountMismatch(st.GrossAmount, b.TotalAmount); reject != nil {
			return s.reject(ctx, rec, OutcomeAmountMismatch, "the Status API answers gross_amount "+clip(st.GrossAmount, 32), reject)
		}
		// Midtrans' current status is the truth; the notification may be
		// older than it, or rewritten.
		n.TransactionStatus, n.FraudStatus, n.GrossAmount = st.TransactionStatus, st.FraudStatus, st.GrossAmount
		if st.TransactionID != "" {
			n.TransactionID = st.TransactionID
		}
		if st.PaymentType != "" {
			n.PaymentType = st.PaymentType
		}
		rec.Reason = "confirmed by the Status API: " + clip(st.TransactionStatus, 32)
	}

	var (
		out     Outcome
		late    *LatePayment
		missing bool
	)
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		out, late, missing = "", nil, false
		now := s.now().UTC()
		b, err := lockBookingByCode(ctx, tx, s.db.Dialect, n.OrderID)
		if errors.Is(err, errNoBooking) {
			// Deleted since it was read: nothing to apply or store here.
			missing = true
			return nil
		}
		if err != nil {
			return err
		}
		out, late, err = s.apply(ctx, tx, b, n, now)
		if err != nil {
			return err
		}
		if late != nil && s.onLateTx != nil {
			if err := s.onLateTx(ctx, tx, *late); err != nil {
				return fmt.Errorf("late payment hook: %w", err)
			}
		}
		// The notification is stored in the same transaction as what it
		// changed: one write, and its outcome is never out of step.
		r := rec
		r.Outcome, r.ProcessedAt = out, &now
		_, err = insertNotification(ctx, tx, s.db.Dialect, r)
		return err
	})
	if err != nil {
		return s.failed(ctx, rec, n.OrderID, err)
	}
	if missing {
		return s.reject(ctx, rec, OutcomeUnknownOrder, "no booking has this order_id",
			apperr.Errorf(apperr.ENOTFOUND, "No booking has this order_id."))
	}
	logArgs := []any{"order_id", n.OrderID, "transaction_status", n.TransactionStatus, "outcome", string(out)}
	if late != nil {
		s.log.WarnContext(ctx, "payment: late payment needs a refund", append(logArgs, "booking_id", late.BookingID, "departed", late.Departed)...)
		if s.onLatePayment != nil {
			s.onLatePayment(ctx, *late)
		}
		return out, nil
	}
	s.log.InfoContext(ctx, "payment: notification applied", logArgs...)
	return out, nil
}

// confirm asks the Status API for the transaction of a verified
// notification. On failure it returns the outcome to record with its
// reason and the error to answer: OutcomeStatusCheck (EUNAVAILABLE, so
// Midtrans retries) when Midtrans could not be asked, and
// OutcomeUnknownTransaction (ENOTFOUND) when it does not know the order.
func (s *Service) confirm(ctx context.Context, n midtrans.Notification) (midtrans.StatusResponse, Outcome, string, error) {
	st, err := s.client.Status(ctx, n.OrderID)
	if errors.Is(err, midtrans.ErrTransactionNotFound) {
		return st, OutcomeUnknownTransaction, "the Status API does not know this order",
			&apperr.Error{Code: apperr.ENOTFOUND, Message: "Midtrans does not know this transaction.", Err: err}
	}
	if err == nil && st.OrderID != "" && st.OrderID != n.OrderID {
		err = fmt.Errorf("payment: status check answered for order %q", clip(st.OrderID, 64))
	}
	if err == nil && st.TransactionStatus == "" {
		err = errors.New("payment: status check answered no transaction_status")
	}
	if err != nil {
		return st, OutcomeStatusCheck, clip("the Status API could not be asked: "+err.Error(), 255),
			&apperr.Error{Code: apperr.EUNAVAILABLE, Message: "The payment status cannot be confirmed now; retry later.", Err: err}
	}
	return st, "", "", nil
}

// amountMismatch checks a gross_amount against a booking's total.
func amountMismatch(gross string, total int64) error {
	amount, err := midtrans.ParseAmount(gross)
	if err == nil && amount == total {
		return nil
	}
	return &apperr.Error{Code: apperr.EINVALID, Message: "gross_amount does not match the booking total.",
		Fields: map[string]string{"gross_amount": "must equal the booking total"}, Err: err}
}

// failed records a notification whose processing failed on Tripin's side
// (nothing changed) and answers the error, so that Midtrans sends it again.
func (s *Service) failed(ctx context.Context, rec notificationRecord, orderID string, err error) (Outcome, error) {
	rec.Outcome, rec.Reason = OutcomeError, clip("processing failed: "+err.Error(), 255)
	if serr := s.storeNotification(context.WithoutCancel(ctx), rec); serr != nil {
		s.log.ErrorContext(ctx, "payment: store failed notification", "order_id", orderID, "err", serr)
	}
	return OutcomeError, fmt.Errorf("payment: handle notification for %q: %w", orderID, err)
}

// apply moves a locked booking forward for a verified notification.
func (s *Service) apply(ctx context.Context, tx *sql.Tx, b bookingRow, n midtrans.Notification, now time.Time) (Outcome, *LatePayment, error) {
	d := s.db.Dialect
	f := paymentFields{TransactionID: n.TransactionID, TransactionStatus: n.TransactionStatus, FraudStatus: n.FraudStatus, PaymentType: n.PaymentType}
	yes, no := true, false
	switch classify(n.TransactionStatus, n.FraudStatus) {
	case evPaid:
		switch b.Status {
		case BookingPending:
			if err := updateBooking(ctx, tx, d, b.ID, bookingChange{Status: BookingPaid, PaidAt: &now}, f, now); err != nil {
				return "", nil, err
			}
			return OutcomePaid, nil, s.paid(ctx, tx, b.ID)
		case BookingExpired, BookingCancelled, BookingFailed:
			if b.NeedsRefund {
				return OutcomeDuplicate, nil, nil
			}
			// A tour that has departed is never sold again, not even to
			// the booking that once held the seats: the customer could not
			// travel, so the money goes back.
			departed, err := s.tourDeparted(ctx, tx, b.TourID)
			if err != nil {
				return "", nil, err
			}
			ok := false
			if !departed {
				if ok, err = takeSeats(ctx, tx, d, b.TourID, b.Quantity, now); err != nil {
					return "", nil, err
				}
			}
			if ok {
				if err := updateBooking(ctx, tx, d, b.ID, bookingChange{Status: BookingPaid, PaidAt: &now}, f, now); err != nil {
					return "", nil, err
				}
				return OutcomePaidLate, nil, s.paid(ctx, tx, b.ID)
			}
			if err := updateBooking(ctx, tx, d, b.ID, bookingChange{NeedsRefund: &yes}, f, now); err != nil {
				return "", nil, err
			}
			return OutcomeNeedsRefund, &LatePayment{
				BookingID: b.ID, Code: b.Code, TourID: b.TourID, Quantity: b.Quantity, Amount: b.TotalAmount,
				Status: b.Status, TransactionID: n.TransactionID, PaymentType: n.PaymentType, Departed: departed,
			}, nil
		case BookingPaid:
			return OutcomeDuplicate, nil, nil
		}
		return OutcomeIgnored, nil, nil

	case evPending, evChallenge:
		if b.Status != BookingPending {
			return OutcomeIgnored, nil, nil
		}
		// Record how the customer is paying; the booking keeps its seats
		// and its status.
		if err := updateBooking(ctx, tx, d, b.ID, bookingChange{}, f, now); err != nil {
			return "", nil, err
		}
		if classify(n.TransactionStatus, n.FraudStatus) == evChallenge {
			return OutcomeChallenge, nil, nil
		}
		return OutcomePending, nil, nil

	case evFailed, evExpired:
		if b.Status != BookingPending {
			return OutcomeIgnored, nil, nil
		}
		c, out := bookingChange{Status: BookingFailed, FailedAt: &now}, OutcomeFailed
		switch n.TransactionStatus {
		case midtrans.StatusExpire:
			c, out = bookingChange{Status: BookingExpired, ExpiredAt: &now}, OutcomeExpired
		case midtrans.StatusCancel:
			c, out = bookingChange{Status: BookingCancelled, CancelledAt: &now}, OutcomeCancelled
		}
		if err := updateBooking(ctx, tx, d, b.ID, c, f, now); err != nil {
			return "", nil, err
		}
		return out, nil, releaseSeats(ctx, tx, d, b.TourID, b.Quantity, now)

	case evRefund:
		switch b.Status {
		case BookingRefunded:
			return OutcomeDuplicate, nil, nil
		case BookingPending, BookingPaid:
			// A refund that overtakes its settlement still ends the
			// booking: the money went back.
			if err := updateBooking(ctx, tx, d, b.ID, bookingChange{Status: BookingRefunded, RefundedAt: &now}, f, now); err != nil {
				return "", nil, err
			}
			return OutcomeRefunded, nil, releaseSeats(ctx, tx, d, b.TourID, b.Quantity, now)
		case BookingExpired, BookingCancelled, BookingFailed:
			// The booking holds no seats; a late payment flagged for a
			// refund has now been refunded.
			c := bookingChange{Status: BookingRefunded, RefundedAt: &now, NeedsRefund: &no}
			if err := updateBooking(ctx, tx, d, b.ID, c, f, now); err != nil {
				return "", nil, err
			}
			return OutcomeRefunded, nil, nil
		}
		return OutcomeIgnored, nil, nil

	case evPartialRefund:
		if b.Status == BookingPaid || (b.NeedsRefund && b.Status != BookingPending && b.Status != BookingRefunded) {
			if err := updateBooking(ctx, tx, d, b.ID, bookingChange{}, f, now); err != nil {
				return "", nil, err
			}
			return OutcomePartialRefund, nil, nil
		}
		return OutcomeIgnored, nil, nil
	}
	return OutcomeIgnored, nil, nil
}

// storeNotification stores a notification that changes nothing else.
func (s *Service) storeNotification(ctx context.Context, rec notificationRecord) error {
	_, err := insertNotification(ctx, s.db, s.db.Dialect, rec)
	return err
}

func (s *Service) paid(ctx context.Context, tx *sql.Tx, bookingID int64) error {
	if s.onPaidTx == nil {
		return nil
	}
	if err := s.onPaidTx(ctx, tx, bookingID); err != nil {
		return fmt.Errorf("payment: on paid: %w", err)
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("payment: random: %v", err))
	}
	return hex.EncodeToString(b)
}
