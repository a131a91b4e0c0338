package payment

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/tripintravel/tripin/internal/apperr"
	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/payment/midtrans"
)

// Payment is what a customer pays a booking with: the Snap token (for
// snap.js) and the redirect URL of the Snap payment page.
type Payment struct {
	Token       string `json:"token"`
	RedirectURL string `json:"redirect_url"`
}

// minHold is the least hold a booking must have left for Pay to open a Snap
// transaction; a shorter window would only strand a payment.
const minHold = time.Minute

// Pay returns the Snap transaction of the user's pending booking, creating
// it the first time. Midtrans refuses a second transaction with the same
// order_id, so concurrent first calls must not both create one: a caller
// first claims the booking with a conditional update (snap_claim), only the
// claimer calls Midtrans, and the others wait for the stored token. A claim
// left by a crashed process is taken over once it is older than the client
// timeout. Errors: ENOTFOUND for a booking that is not the user's,
// ECONFLICT for one that is not pending or whose hold is over, EUNAVAILABLE
// when Midtrans cannot be reached.
func (s *Service) Pay(ctx context.Context, bookingID, userID int64) (Payment, error) {
	deadline := s.now().Add(s.claimStale + 5*time.Second)
	wait := 10 * time.Millisecond
	for {
		b, err := s.db.BookingPaymentGet(ctx, bookingID)
		if apperr.IsNotFound(err) || (err == nil && b.UserID != userID) {
			return Payment{}, apperr.Errorf(apperr.ENOTFOUND, "Booking not found.")
		}
		if err != nil {
			return Payment{}, err
		}
		if b.Status != booking.StatusPending {
			return Payment{}, apperr.Errorf(apperr.ECONFLICT, "The booking is %s; only a pending booking can be paid.", b.Status)
		}
		if b.SnapToken != "" {
			return Payment{Token: b.SnapToken, RedirectURL: b.SnapRedirectURL}, nil
		}
		if b.TotalAmount <= 0 {
			return Payment{}, apperr.Errorf(apperr.ECONFLICT, "The booking has nothing to pay.")
		}
		now := s.now()
		if b.ExpiresAt.Sub(now) < minHold {
			return Payment{}, apperr.Errorf(apperr.ECONFLICT, "The booking's hold has ended; book again.")
		}
		claimed := b.SnapClaim != ""
		stale := claimed && (b.SnapClaimedAt == nil || now.Sub(*b.SnapClaimedAt) > s.claimStale)
		if !claimed || stale {
			claim := randomHex(16)
			// Only the stale claim read here can be replaced, so two
			// callers cannot both take over the same abandoned claim.
			ok, err := s.db.BookingSnapClaim(ctx, b.ID, claim, b.SnapClaim, now)
			if err != nil {
				return Payment{}, err
			}
			if ok {
				return s.createSnap(ctx, b, claim)
			}
		}
		if now.After(deadline) {
			return Payment{}, apperr.Errorf(apperr.EUNAVAILABLE, "The payment is being prepared; retry in a moment.")
		}
		select {
		case <-ctx.Done():
			return Payment{}, fmt.Errorf("payment: pay: %w", ctx.Err())
		case <-time.After(wait):
		}
		wait = min(wait*2, 200*time.Millisecond)
	}
}

// createSnap calls Midtrans for a claimed booking and stores the answer.
func (s *Service) createSnap(ctx context.Context, b *booking.PaymentView, claim string) (Payment, error) {
	req, err := s.snapRequest(ctx, b)
	if err != nil {
		s.releaseClaim(b.ID, claim)
		return Payment{}, err
	}
	resp, err := s.client.CreateTransaction(ctx, req)
	if err != nil {
		s.releaseClaim(b.ID, claim)
		if errors.Is(err, midtrans.ErrDuplicateOrder) {
			// Only a crashed earlier attempt can have created it; its token
			// is lost, and Midtrans will not issue another for this order.
			s.log.ErrorContext(ctx, "payment: Snap transaction exists but its token was not stored", "booking_id", b.ID, "order_id", b.Code)
			return Payment{}, &apperr.Error{Code: apperr.ECONFLICT, Message: "A payment was already started for this booking; contact support.", Err: err}
		}
		s.log.ErrorContext(ctx, "payment: create Snap transaction", "booking_id", b.ID, "err", err)
		return Payment{}, &apperr.Error{Code: apperr.EUNAVAILABLE, Message: "The payment provider is unavailable; retry in a moment.", Err: err}
	}
	if err := s.db.BookingSnapSave(ctx, b.ID, resp.Token, resp.RedirectURL, s.now().UTC()); err != nil {
		return Payment{}, fmt.Errorf("payment: %w", err)
	}
	s.log.InfoContext(ctx, "payment: Snap transaction created", "booking_id", b.ID, "order_id", b.Code)
	return Payment{Token: resp.Token, RedirectURL: resp.RedirectURL}, nil
}

// releaseClaim gives up a claim after a failed attempt so the next call can
// try again at once. It runs on its own context: the request's may be gone.
func (s *Service) releaseClaim(bookingID int64, claim string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.db.BookingSnapRelease(ctx, bookingID, claim); err != nil {
		s.log.Error("payment: release snap claim", "booking_id", bookingID, "err", err)
	}
}

// snapRequest builds the Snap transaction of a booking: its code as order_id,
// its total as gross_amount, one item line per tour, and an expiry that
// starts at the booking's creation and ends with its hold.
func (s *Service) snapRequest(ctx context.Context, b *booking.PaymentView) (midtrans.SnapRequest, error) {
	d, err := s.db.BookingMailData(ctx, nil, b.ID)
	if apperr.IsNotFound(err) {
		return midtrans.SnapRequest{}, apperr.Errorf(apperr.ENOTFOUND, "Booking not found.")
	}
	if err != nil {
		return midtrans.SnapRequest{}, fmt.Errorf("payment: snap request: %w", err)
	}
	title, name, email := d.TourTitle, d.CustomerName, d.CustomerEmail
	quantity := int64(b.Quantity)
	item := midtrans.ItemDetail{ID: fmt.Sprintf("TOUR-%d", b.TourID), Price: b.UnitPrice, Quantity: quantity, Name: truncate(title, 50)}
	if b.UnitPrice*quantity != b.TotalAmount {
		// A total that is not price × quantity (a discount, say) is sent
		// as one line so the items still add up.
		item = midtrans.ItemDetail{ID: fmt.Sprintf("BOOKING-%d", b.ID), Price: b.TotalAmount, Quantity: 1, Name: truncate(title, 50)}
	}
	hold := b.ExpiresAt.Sub(b.CreatedAt).Truncate(time.Second)
	minutes := int64(hold / time.Minute)
	if minutes < 1 {
		minutes = 1
	}
	return midtrans.SnapRequest{
		TransactionDetails: midtrans.TransactionDetails{OrderID: b.Code, GrossAmount: b.TotalAmount},
		ItemDetails:        []midtrans.ItemDetail{item},
		CustomerDetails:    &midtrans.CustomerDetails{FirstName: truncate(name, 255), Email: email},
		Expiry:             midtrans.NewSnapExpiry(b.CreatedAt, minutes),
	}, nil
}

// truncate cuts s to at most n characters.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// ExpireSnap ends the Snap transaction of a booking that no longer takes
// payment (cancelled or expired), so the customer cannot pay into a booking
// that gave its seats away. A transaction Midtrans does not know (the
// customer never picked a payment method) or can no longer change counts as
// done. Callers run it after their own transaction committed; a payment
// that still slips through is handled as a late payment.
func (s *Service) ExpireSnap(ctx context.Context, orderID string) error {
	_, err := s.client.Expire(ctx, orderID)
	var apiErr *midtrans.APIError
	switch {
	case err == nil, errors.Is(err, midtrans.ErrTransactionNotFound):
		return nil
	case errors.As(err, &apiErr) && apiErr.StatusCode == "412":
		return nil
	}
	return fmt.Errorf("payment: expire snap %s: %w", orderID, err)
}
