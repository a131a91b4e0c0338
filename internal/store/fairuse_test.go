package store_test

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/apperr"
	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
	"github.com/tripintravel/tripin/queue/driver/dbdriver"
)

// fairUseFixture is a booking service with fair-use limits whose create
// hook counts the bookings it saw committed, standing for the invoice and
// expiry jobs inserted in the booking's transaction.
type fairUseFixture struct {
	db    *store.DB
	svc   *booking.Service
	hooks atomic.Int64
}

func newFairUse(t *testing.T, d store.Dialect, p booking.ServiceParams) *fairUseFixture {
	f := &fairUseFixture{db: storetest.Open(t, d)}
	p.Store, p.Expiry = f.db, time.Hour
	p.OnCreateTx = []booking.TxHook{func(ctx context.Context, tx *sql.Tx, b *booking.Booking) error {
		// A job row written in the booking's transaction.
		_, err := tx.ExecContext(ctx, f.db.Rebind("UPDATE bookings SET transaction_status = 'job' WHERE id = ?"), b.ID)
		if err == nil {
			f.hooks.Add(1)
		}
		return err
	}}
	f.svc = booking.NewService(p)
	return f
}

func (f *fairUseFixture) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, f.db.QueryRowContext(context.Background(), f.db.Rebind(q), args...).Scan(&n))
	return n
}

// parallelBook runs n bookings of one seat by user at once and returns how
// many succeeded and the codes of the errors.
func (f *fairUseFixture) parallelBook(t *testing.T, n int, userID, tourID int64) (int, map[string]int) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, codes := 0, map[string]int{}
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := f.svc.Book(context.Background(), booking.BookParams{UserID: userID, TourID: tourID, Quantity: 1})
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				ok++
				return
			}
			codes[apperr.Code(err)]++
			if apperr.Code(err) == apperr.EINTERNAL {
				t.Errorf("unexpected error: %v", err)
			}
		}()
	}
	close(start)
	wg.Wait()
	return ok, codes
}

// TestPendingLimitUnderParallelBookings: 40 parallel bookings by one
// customer with BOOKING_MAX_PENDING_PER_USER=5 leave exactly 5 pending
// bookings, 5 seats taken and 5 jobs, on every backend; the other 35 are
// refused with too_many_pending and take nothing. Other customers are not
// affected, and a cancelled booking makes room again.
func TestPendingLimitUnderParallelBookings(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		f := newFairUse(t, d, booking.ServiceParams{MaxPendingPerUser: 5})
		u := mkUser(t, f.db, "greedy@example.com")
		other := mkUser(t, f.db, "other@example.com")
		tour := mkTour(t, f.db, "2099-01-01", 100)

		ok, codes := f.parallelBook(t, 40, u.ID, tour.ID)
		require.Equal(t, 5, ok, "%v", codes)
		require.Equal(t, map[string]int{apperr.ETOOMANYPENDING: 35}, codes)
		require.Equal(t, 5, f.count(t, "SELECT COUNT(*) FROM bookings WHERE user_id = ?", u.ID))
		require.Equal(t, 95, f.count(t, "SELECT quota FROM tours WHERE id = ?", tour.ID))
		require.EqualValues(t, 5, f.hooks.Load())
		requireInvariant(t, f.db)

		_, err := f.svc.Book(ctx, booking.BookParams{UserID: u.ID, TourID: tour.ID, Quantity: 1})
		require.Equal(t, apperr.ETOOMANYPENDING, apperr.Code(err))
		require.Contains(t, apperr.Message(err), "5 unpaid bookings")

		// Another customer books as usual.
		_, err = f.svc.Book(ctx, booking.BookParams{UserID: other.ID, TourID: tour.ID, Quantity: 1})
		require.NoError(t, err)

		// Cancelling one makes room for one more, and only one.
		var first int64
		require.NoError(t, f.db.QueryRowContext(ctx, f.db.Rebind("SELECT MIN(id) FROM bookings WHERE user_id = ?"), u.ID).Scan(&first))
		_, err = f.svc.Release(ctx, first, booking.StatusCancelled)
		require.NoError(t, err)
		ok, codes = f.parallelBook(t, 10, u.ID, tour.ID)
		require.Equal(t, 1, ok, "%v", codes)
		require.Equal(t, 5, f.count(t, "SELECT COUNT(*) FROM bookings WHERE user_id = ? AND status = 'pending'", u.ID))
		requireInvariant(t, f.db)

		// 0 means no limit.
		g := newFairUse(t, d, booking.ServiceParams{})
		gu := mkUser(t, g.db, "many@example.com")
		gt := mkTour(t, g.db, "2099-01-01", 100)
		ok, codes = g.parallelBook(t, 12, gu.ID, gt.ID)
		require.Equal(t, 12, ok, "%v", codes)
	})
}

// TestBookingRateLimit: with BOOKING_RATE_LIMIT=3 a customer's fourth
// booking in a minute is refused with rate_limited and a wait, on the
// queue's database limiter that every server shares, and takes nothing.
func TestBookingRateLimit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		db := storetest.Open(t, d)
		p := booking.ServiceParams{RateLimit: 3, Limiter: dbdriver.NewAdmin(db.DB)}
		f := newFairUse(t, d, p)
		// Two servers: two services over one database share the count.
		p.Store, p.Limiter = f.db, dbdriver.NewAdmin(f.db.DB)
		f.svc = booking.NewService(p)
		second := booking.NewService(p)
		u := mkUser(t, f.db, "fast@example.com")
		other := mkUser(t, f.db, "slow@example.com")
		tour := mkTour(t, f.db, "2099-01-01", 100)

		ok, codes := f.parallelBook(t, 8, u.ID, tour.ID)
		// The window may turn during the run: then a few more pass.
		require.GreaterOrEqual(t, ok, 3, "%v", codes)
		require.LessOrEqual(t, ok, 6, "%v", codes)
		require.Equal(t, 8-ok, codes[apperr.ERATELIMITED], "%v", codes)
		require.Equal(t, 100-ok, f.count(t, "SELECT quota FROM tours WHERE id = ?", tour.ID))
		require.Equal(t, ok, f.count(t, "SELECT COUNT(*) FROM bookings"))

		_, err := second.Book(ctx, booking.BookParams{UserID: u.ID, TourID: tour.ID, Quantity: 1})
		if err != nil {
			require.Equal(t, apperr.ERATELIMITED, apperr.Code(err))
			var re *booking.RateLimitError
			require.True(t, errors.As(err, &re))
			require.Positive(t, re.RetryAfterSeconds())
			require.LessOrEqual(t, re.RetryAfter, time.Minute)
			require.Contains(t, apperr.Message(err), "at most 3 a minute")
		}
		// Another customer has a count of their own.
		_, err = second.Book(ctx, booking.BookParams{UserID: other.ID, TourID: tour.ID, Quantity: 1})
		require.NoError(t, err)
		requireInvariant(t, f.db)
	})
}

// TestBookingMaxQuantity: a booking over BOOKING_MAX_QUANTITY seats is
// invalid and takes nothing; 0 means a tour's largest capacity.
func TestBookingMaxQuantity(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		f := newFairUse(t, d, booking.ServiceParams{MaxQuantity: 3})
		u := mkUser(t, f.db, "group@example.com")
		tour := mkTour(t, f.db, "2099-01-01", 100)
		_, err := f.svc.Book(ctx, booking.BookParams{UserID: u.ID, TourID: tour.ID, Quantity: 4})
		require.Equal(t, apperr.EINVALID, apperr.Code(err))
		var ae *apperr.Error
		require.ErrorAs(t, err, &ae)
		require.Contains(t, ae.Fields["quantity"], "between 1 and 3")
		require.Equal(t, 100, f.count(t, "SELECT quota FROM tours WHERE id = ?", tour.ID))
		require.Zero(t, f.count(t, "SELECT COUNT(*) FROM bookings"))
		_, err = f.svc.Book(ctx, booking.BookParams{UserID: u.ID, TourID: tour.ID, Quantity: 3})
		require.NoError(t, err)

		g := newFairUse(t, d, booking.ServiceParams{})
		require.Equal(t, booking.MaxTourCapacity, g.svc.MaxQuantity())
		gu := mkUser(t, g.db, "bus@example.com")
		gt := mkTour(t, g.db, "2099-01-01", 100)
		_, err = g.svc.Book(ctx, booking.BookParams{UserID: gu.ID, TourID: gt.ID, Quantity: 60})
		require.NoError(t, err)
	})
}
