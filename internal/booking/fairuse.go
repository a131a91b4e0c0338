package booking

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/tripintravel/tripin/internal/apperr"
	"github.com/tripintravel/tripin/queue/driver"
)

// Fair use: the limits that keep one customer from holding the seats
// others want (BOOKING_MAX_QUANTITY, BOOKING_MAX_PENDING_PER_USER,
// BOOKING_RATE_LIMIT). A request over a limit takes nothing: no seat, no
// booking, no job.

// RateLimiter counts hits on the fixed-window limiter every server shares:
// the queue's (a driver.Admin is one).
type RateLimiter = driver.RateLimiter

// PendingCounter is the part of a Store the pending limit needs.
type PendingCounter interface {
	// UserPendingBookingsTx locks the user's row for the rest of tx and
	// returns how many pending bookings the user has. ENOTFOUND for an
	// unknown user.
	UserPendingBookingsTx(ctx context.Context, tx *sql.Tx, userID int64) (int, error)
}

// bookingRateKey is the limiter key of a customer's bookings.
func bookingRateKey(userID int64) string { return "booking:user:" + strconv.FormatInt(userID, 10) }

// bookingRatePeriod is the window of BOOKING_RATE_LIMIT.
const bookingRatePeriod = time.Minute

// RateLimitError is the error of a booking refused for the customer's
// rate; the HTTP layer sets Retry-After from it.
type RateLimitError struct {
	RetryAfter time.Duration
	Limit      int
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("booking: more than %d bookings a minute; retry after %s", e.Limit, e.RetryAfter)
}

// RetryAfterSeconds is RetryAfter in whole seconds, at least 1.
func (e *RateLimitError) RetryAfterSeconds() int {
	return max(1, int((e.RetryAfter+time.Second-1)/time.Second))
}

// checkRate counts a booking attempt of userID and refuses it past
// BOOKING_RATE_LIMIT, with ERATELIMITED (429).
func (s *Service) checkRate(ctx context.Context, userID int64) error {
	if s.rateLimit <= 0 {
		return nil
	}
	r, err := s.limiter.RateLimitHit(ctx, &driver.RateLimitHitParams{Key: bookingRateKey(userID), Limit: s.rateLimit, Period: bookingRatePeriod})
	if err != nil {
		return fmt.Errorf("booking: rate limit: %w", err)
	}
	if r.Allowed {
		return nil
	}
	re := &RateLimitError{RetryAfter: r.RetryAfter, Limit: s.rateLimit}
	return &apperr.Error{
		Code: apperr.ERATELIMITED, Err: re,
		Message: fmt.Sprintf("Too many bookings: at most %d a minute. Try again in %d seconds.", s.rateLimit, re.RetryAfterSeconds()),
	}
}

// TooManyPendingError is the error of a booking refused because the
// customer already holds max pending bookings: ETOOMANYPENDING (429).
func TooManyPendingError(max int) error {
	return apperr.Errorf(apperr.ETOOMANYPENDING,
		"You already have %d unpaid bookings, the most one customer may hold. Pay or cancel one of them before booking again.", max)
}
