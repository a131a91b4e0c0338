// Package payment takes bookings' payments through Midtrans: it creates the
// Snap transaction a customer pays with, and it turns Midtrans' HTTP
// notifications into booking state changes with a forward-only, idempotent
// state machine. It also offers the payment simulator and the e-ticket page.
//
// The state machine, for a notification with a valid signature whose
// gross_amount equals the booking's total, applied under the booking's row
// lock:
//
//	notification                    pending          paid        expired/cancelled/failed   refunded
//	settlement, capture+accept      paid (+e-ticket) duplicate   paid again if seats are    ignored
//	                                                             left, else needs_refund
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
	OutcomeStatusMismatch Outcome = "status_mismatch" // rejected: a payment whose status_code is not 200
	OutcomeStatusCheck    Outcome = "status_check_failed"
	OutcomeError          Outcome = "error" // processing failed (nothing changed); Midtrans retries
)

// LatePayment describes a payment that arrived after its booking had given
// its seats away and could not take them again. The booking is flagged
// needs_refund; OnLatePayment tells operations.
type LatePayment struct {
	BookingID     int64
	Code          string
	TourID        int64
	Quantity      int64
	Amount        int64
	Status        string // the booking's status: expired, cancelled or failed
	TransactionID string
	PaymentType   string
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
// notification. Every body is stored raw in payment_notifications, verified
// or not. The errors are *apperr.Error values: EMALFORMED for a body that is
// not a notification, EFORBIDDEN for a bad signature, ENOTFOUND for an
// unknown order, EINVALID for an amount that is not the booking's total,
// EUNAVAILABLE when the optional status check cannot reach Midtrans; in all
// those cases no booking or tour changes. Duplicates succeed with
// OutcomeDuplicate or OutcomeIgnored.
func (s *Service) HandleNotification(ctx context.Context, raw []byte) (Outcome, error) {
	received := s.now().UTC()
	n, err := midtrans.DecodeNotification(raw)
	if err != nil {
		if len(raw) > midtrans.MaxNotificationSize {
			raw = raw[:midtrans.MaxNotificationSize]
		}
		rec := notificationRecord{Outcome: OutcomeMalformed, Payload: raw, ReceivedAt: received, ProcessedAt: &received}
		if serr := s.storeNotification(ctx, rec); serr != nil {
			return OutcomeMalformed, serr
		}
		return OutcomeMalformed, &apperr.Error{Code: apperr.EMALFORMED, Message: "The notification is not valid JSON with the required fields.", Err: err}
	}
	rec := notificationRecord{
		OrderID: n.OrderID, TransactionID: n.TransactionID, TransactionStatus: n.TransactionStatus,
		StatusCode: n.StatusCode, GrossAmount: n.GrossAmount, FraudStatus: n.FraudStatus,
		Payload: raw, ReceivedAt: received,
	}
	if !midtrans.VerifySignature(n, s.serverKey) {
		rec.Outcome, rec.ProcessedAt = OutcomeBadSignature, &received
		if serr := s.storeNotification(ctx, rec); serr != nil {
			return OutcomeBadSignature, serr
		}
		s.log.WarnContext(ctx, "payment: notification with a bad signature", "order_id", clip(n.OrderID, 64),
			"transaction_status", clip(n.TransactionStatus, 32))
		return OutcomeBadSignature, apperr.Errorf(apperr.EFORBIDDEN, "The notification signature is invalid.")
	}
	rec.SignatureValid = true
	// transaction_status is not covered by Midtrans' signature. A payment
	// always carries status_code 200, so a signed pending (201), deny (202)
	// or expire (407) notification replayed with its status rewritten to
	// settlement is refused here; MIDTRANS_VERIFY_STATUS closes the rest.
	if classify(n.TransactionStatus, n.FraudStatus) == evPaid && n.StatusCode != "200" {
		rec.Outcome, rec.ProcessedAt = OutcomeStatusMismatch, &received
		if serr := s.storeNotification(ctx, rec); serr != nil {
			return OutcomeStatusMismatch, serr
		}
		s.log.WarnContext(ctx, "payment: payment notification without status_code 200", "order_id", n.OrderID)
		return OutcomeStatusMismatch, &apperr.Error{Code: apperr.EINVALID, Message: "status_code does not match transaction_status.",
			Fields: map[string]string{"status_code": "must be 200 for a payment"}}
	}
	if s.cfg.MidtransVerifyStatus {
		st, err := s.client.Status(ctx, n.OrderID)
		if err == nil && st.OrderID != "" && st.OrderID != n.OrderID {
			err = fmt.Errorf("payment: status check answered for order %q", st.OrderID)
		}
		if err != nil {
			rec.Outcome, rec.ProcessedAt = OutcomeStatusCheck, &received
			if serr := s.storeNotification(ctx, rec); serr != nil {
				return OutcomeStatusCheck, serr
			}
			s.log.ErrorContext(ctx, "payment: status check failed", "order_id", n.OrderID, "err", err)
			return OutcomeStatusCheck, &apperr.Error{Code: apperr.EUNAVAILABLE, Message: "The payment status cannot be confirmed now; retry later.", Err: err}
		}
		// Midtrans' current status is the truth; the notification may be
		// older than it.
		n.TransactionStatus, n.FraudStatus, n.GrossAmount = st.TransactionStatus, st.FraudStatus, st.GrossAmount
		if st.TransactionID != "" {
			n.TransactionID = st.TransactionID
		}
		if st.PaymentType != "" {
			n.PaymentType = st.PaymentType
		}
	}

	var (
		out    Outcome
		reject error
		late   *LatePayment
	)
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		out, reject, late = "", nil, nil
		now := s.now().UTC()
		b, err := lockBookingByCode(ctx, tx, s.db.Dialect, n.OrderID)
		switch {
		case errors.Is(err, errNoBooking):
			out = OutcomeUnknownOrder
			reject = apperr.Errorf(apperr.ENOTFOUND, "No booking has this order_id.")
		case err != nil:
			return err
		default:
			amount, aerr := midtrans.ParseAmount(n.GrossAmount)
			if aerr != nil || amount != b.TotalAmount {
				out = OutcomeAmountMismatch
				reject = &apperr.Error{Code: apperr.EINVALID, Message: "gross_amount does not match the booking total.",
					Fields: map[string]string{"gross_amount": "must equal the booking total"}, Err: aerr}
				break
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
		}
		// The notification is stored in the same transaction as what it
		// changed: one write, and its outcome is never out of step.
		r := rec
		r.Outcome, r.ProcessedAt = out, &now
		_, err = insertNotification(ctx, tx, s.db.Dialect, r)
		return err
	})
	if err != nil {
		// Nothing changed; keep the body for the record. Midtrans retries
		// on the error answer.
		rec.Outcome = OutcomeError
		if serr := s.storeNotification(context.WithoutCancel(ctx), rec); serr != nil {
			s.log.ErrorContext(ctx, "payment: store failed notification", "order_id", n.OrderID, "err", serr)
		}
		return OutcomeError, fmt.Errorf("payment: handle notification for %q: %w", n.OrderID, err)
	}
	logArgs := []any{"order_id", n.OrderID, "transaction_status", n.TransactionStatus, "outcome", string(out)}
	switch {
	case reject != nil:
		s.log.WarnContext(ctx, "payment: notification rejected", logArgs...)
		return out, reject
	case late != nil:
		s.log.WarnContext(ctx, "payment: late payment needs a refund", append(logArgs, "booking_id", late.BookingID)...)
		if s.onLatePayment != nil {
			s.onLatePayment(ctx, *late)
		}
	default:
		s.log.InfoContext(ctx, "payment: notification applied", logArgs...)
	}
	return out, nil
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
			ok, err := takeSeats(ctx, tx, d, b.TourID, b.Quantity, now)
			if err != nil {
				return "", nil, err
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
				Status: b.Status, TransactionID: n.TransactionID, PaymentType: n.PaymentType,
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

// SimulatedStatuses are the transaction statuses Simulate accepts.
// "challenge" simulates a card capture held for fraud review.
var SimulatedStatuses = []string{
	midtrans.StatusSettlement, midtrans.StatusCapture, "challenge", midtrans.StatusPending, midtrans.StatusDeny,
	midtrans.StatusCancel, midtrans.StatusExpire, midtrans.StatusFailure, midtrans.StatusRefund, midtrans.StatusPartialRefund,
}

// Simulate builds a correctly signed notification for the booking with code
// orderID, as Midtrans would send for transactionStatus, and feeds it
// through HandleNotification. It answers ENOTFOUND when the simulator is
// disabled (production), as if it did not exist.
func (s *Service) Simulate(ctx context.Context, orderID, transactionStatus string) (Outcome, error) {
	if !s.cfg.SimulatorEnabled() {
		return "", apperr.Errorf(apperr.ENOTFOUND, "Not found.")
	}
	p := midtrans.NotificationParams{OrderID: orderID, TransactionStatus: transactionStatus}
	switch transactionStatus {
	case midtrans.StatusCapture:
		p.FraudStatus = midtrans.FraudAccept
	case "challenge":
		p.TransactionStatus, p.FraudStatus = midtrans.StatusCapture, midtrans.FraudChallenge
	default:
		known := false
		for _, st := range SimulatedStatuses {
			known = known || st == transactionStatus
		}
		if !known {
			return "", apperr.Invalid(map[string]string{"transaction_status": "must be one of settlement, capture, challenge, pending, deny, cancel, expire, failure, refund, partial_refund"})
		}
	}
	if orderID == "" {
		return "", apperr.Invalid(map[string]string{"order_id": "is required"})
	}
	b, err := getBookingByCode(ctx, s.db.Read, s.db.Dialect, orderID)
	if errors.Is(err, errNoBooking) {
		return "", apperr.Errorf(apperr.ENOTFOUND, "No booking has this order_id.")
	}
	if err != nil {
		return "", err
	}
	p.GrossAmount = b.TotalAmount
	p.TransactionID = b.TxID.String
	if p.TransactionID == "" {
		p.TransactionID = "sim-" + randomHex(12)
	}
	p.TransactionTime = s.now().In(midtrans.WIB).Format("2006-01-02 15:04:05")
	return s.HandleNotification(ctx, midtrans.BuildNotification(s.serverKey, p))
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("payment: random: %v", err))
	}
	return hex.EncodeToString(b)
}
