// Package payment takes bookings' payments through Midtrans: it creates the
// Snap transaction a customer pays with, and it turns Midtrans' HTTP
// notifications into booking events, which the booking package applies
// with its state table (booking.Apply) under the booking's row lock. It
// keeps the payment_notifications table; every write to bookings and tours
// goes through the booking service and the store. It also offers the
// payment simulator (only where it is safe, behind signed links or the
// booking's owner), the e-ticket page, and the job that expires the Snap
// transaction of a booking that was cancelled or expired.
//
// A notification is applied only once its signature verifies, its
// status_code fits its transaction_status, its gross_amount is the
// booking's total and, unless MIDTRANS_VERIFY_STATUS is off, Midtrans'
// Status API has confirmed the transaction's status: that answer, not the
// notification, is what becomes the event:
//
//	transaction_status              fraud_status        booking event
//	settlement                                          paid
//	capture                         accept              paid
//	capture                         deny                denied
//	capture                         challenge (or none) challenge
//	pending, authorize                                  pending
//	deny, failure                                       denied
//	cancel                                              cancelled
//	expire                                              expired
//	refund                                              refunded
//	partial_refund                                      partial_refund
//
// Unknown transaction statuses (chargeback, …) are stored and ignored. What
// each event does to a booking in each state is the table in the booking
// package (state.go).
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
	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/payment/midtrans"
	"github.com/tripintravel/tripin/internal/store"
)

// Outcome is what a notification led to. It is stored in
// payment_notifications.outcome and answered to the caller.
type Outcome string

// The outcomes of HandleNotification. Those of the state table are the
// booking package's; the others reject or fail a notification.
const (
	OutcomePaid          = Outcome(booking.OutcomePaid)          // a pending booking was paid
	OutcomePaidLate      = Outcome(booking.OutcomePaidLate)      // an expired or cancelled booking took its seats again
	OutcomeNeedsRefund   = Outcome(booking.OutcomeNeedsRefund)   // paid too late and sold out: flagged, operations notified
	OutcomeDuplicate     = Outcome(booking.OutcomeDuplicate)     // the booking is already in the state this asks for
	OutcomePending       = Outcome(booking.OutcomePending)       // the payment is under way; nothing changes
	OutcomeChallenge     = Outcome(booking.OutcomeChallenge)     // a card capture awaits fraud review; stays pending
	OutcomeCancelled     = Outcome(booking.OutcomeCancelled)     // cancel released a pending booking
	OutcomeFailed        = Outcome(booking.OutcomeFailed)        // deny or failure released a pending booking
	OutcomeExpired       = Outcome(booking.OutcomeExpired)       // the Snap transaction expired; pending booking released
	OutcomeRefunded      = Outcome(booking.OutcomeRefunded)      // the booking was refunded
	OutcomePartialRefund = Outcome(booking.OutcomePartialRefund) // recorded; the booking keeps its status
	OutcomeIgnored       = Outcome(booking.OutcomeIgnored)       // stale, out of order or unknown status; nothing changes
)

// The outcomes of notifications that are rejected or fail.
const (
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

// Params are the dependencies of a Service.
type Params struct {
	DB     *store.DB
	Config *config.Config
	// Bookings applies payment events to bookings; nil builds one on DB
	// with Now and APP_TIMEZONE.
	Bookings *booking.Service
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
	bookings      *booking.Service
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
		db: p.DB, bookings: p.Bookings, cfg: p.Config, client: p.Client, serverKey: p.Config.MidtransServerKey, log: p.Logger,
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
	if s.bookings == nil {
		s.bookings = booking.NewService(booking.ServiceParams{Store: p.DB, Now: s.now, Location: p.Config.AppTimezone})
	}
	timeout := s.client.Timeout
	if timeout <= 0 {
		timeout = midtrans.DefaultTimeout
	}
	s.claimStale = timeout + 5*time.Second
	return s, nil
}

// eventOf maps Midtrans' transaction and fraud statuses to a booking
// event; false for a status that is not one (chargeback, …). A capture
// counts as paid only with fraud_status accept.
func eventOf(transactionStatus, fraudStatus string) (booking.Event, bool) {
	switch transactionStatus {
	case midtrans.StatusSettlement:
		return booking.EventPaid, true
	case midtrans.StatusCapture:
		switch fraudStatus {
		case midtrans.FraudAccept:
			return booking.EventPaid, true
		case midtrans.FraudDeny:
			return booking.EventDenied, true
		default:
			return booking.EventChallenge, true
		}
	case midtrans.StatusPending, midtrans.StatusAuthorize:
		return booking.EventPending, true
	case midtrans.StatusDeny, midtrans.StatusFailure:
		return booking.EventDenied, true
	case midtrans.StatusCancel:
		return booking.EventCancelled, true
	case midtrans.StatusExpire:
		return booking.EventExpired, true
	case midtrans.StatusRefund:
		return booking.EventRefunded, true
	case midtrans.StatusPartialRefund:
		return booking.EventPartialRefund, true
	}
	return "", false
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
	b, err := s.db.BookingPaymentGetByCode(ctx, n.OrderID)
	switch {
	case apperr.IsNotFound(err):
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
		var err error
		out, late, err = s.apply(ctx, tx, n, now)
		if apperr.IsNotFound(err) {
			// Deleted since it was read: nothing to apply or store here.
			missing = true
			return nil
		}
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

// apply turns a verified notification into a booking event and has the
// booking service apply it, under the booking's row lock. A notification
// that is no event (an unknown status) only locks the booking, so that it
// is stored after whatever holds the booking now. Bookings that become
// paid get the OnPaidTx hook; a late payment that could not take its seats
// back is returned for the late-payment hooks.
func (s *Service) apply(ctx context.Context, tx *sql.Tx, n midtrans.Notification, now time.Time) (Outcome, *LatePayment, error) {
	ev, ok := eventOf(n.TransactionStatus, n.FraudStatus)
	if !ok {
		if _, err := s.db.BookingPaymentLockTx(ctx, tx, n.OrderID); err != nil {
			return "", nil, err
		}
		return OutcomeIgnored, nil, nil
	}
	res, err := s.bookings.ApplyPaymentTx(ctx, tx, booking.PaymentEvent{
		Code: n.OrderID, Event: ev, At: now,
		Fields: booking.PaymentFields{TransactionID: n.TransactionID, TransactionStatus: n.TransactionStatus,
			FraudStatus: n.FraudStatus, PaymentType: n.PaymentType},
	})
	if err != nil {
		return "", nil, err
	}
	b, out := res.Before, Outcome(res.Transition.Outcome)
	switch out {
	case OutcomePaid, OutcomePaidLate:
		return out, nil, s.paid(ctx, tx, b.ID)
	case OutcomeNeedsRefund:
		return out, &LatePayment{
			BookingID: b.ID, Code: b.Code, TourID: b.TourID, Quantity: int64(b.Quantity), Amount: b.TotalAmount,
			Status: string(b.Status), TransactionID: n.TransactionID, PaymentType: n.PaymentType, Departed: res.Departed,
		}, nil
	}
	return out, nil, nil
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
