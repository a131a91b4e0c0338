package payment

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/apperr"
	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/payment/midtrans"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

func TestPay(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		f := newFixture(t, d)
		ctx := context.Background()
		user := f.user(t)
		tour := f.tour(t, 10)
		id, code := f.booking(t, tour, user, 2, booking.StatusPending, false)

		p, err := f.svc.Pay(ctx, id, user)
		require.NoError(t, err)
		require.NotEmpty(t, p.Token)
		require.NotEmpty(t, p.RedirectURL)
		again, err := f.svc.Pay(ctx, id, user)
		require.NoError(t, err)
		require.Equal(t, p, again)
		require.Equal(t, 1, f.fake.Creates())

		// What Midtrans received.
		tx, ok := f.fake.Transaction(code)
		require.True(t, ok)
		req := tx.Request
		require.Equal(t, code, req.TransactionDetails.OrderID)
		require.Equal(t, int64(300000), req.TransactionDetails.GrossAmount)
		require.Len(t, req.ItemDetails, 1)
		require.Equal(t, midtrans.ItemDetail{ID: "TOUR-" + itoa(tour), Price: 150000, Quantity: 2, Name: "Bromo Sunrise & Madakaripura Waterfall"}, req.ItemDetails[0])
		require.Equal(t, "Ayu Lestari", req.CustomerDetails.FirstName)
		require.Equal(t, "minutes", req.Expiry.Unit)
		require.Equal(t, int64(30), req.Expiry.Duration)
		start, err := time.Parse(midtrans.TimeFormat, req.Expiry.StartTime)
		require.NoError(t, err)
		_, offset := start.Zone()
		require.Equal(t, 7*3600, offset)
		require.Regexp(t, `^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0700$`, req.Expiry.StartTime)
		created, err := f.db.BookingGet(ctx, id)
		require.NoError(t, err)
		require.True(t, start.Equal(created.CreatedAt.Truncate(time.Second)), "start %v, created %v", start, created.CreatedAt)

		// Another user's booking does not exist for them.
		other := f.user(t)
		_, err = f.svc.Pay(ctx, id, other)
		require.Equal(t, apperr.ENOTFOUND, apperr.Code(err))
		_, err = f.svc.Pay(ctx, 999999, user)
		require.Equal(t, apperr.ENOTFOUND, apperr.Code(err))

		// Only pending bookings can be paid.
		for _, st := range []booking.Status{booking.StatusPaid, booking.StatusExpired, booking.StatusCancelled, booking.StatusRefunded} {
			bid, _ := f.booking(t, tour, user, 1, st, false)
			_, err = f.svc.Pay(ctx, bid, user)
			require.Equal(t, apperr.ECONFLICT, apperr.Code(err), st)
		}
		require.Equal(t, 1, f.fake.Creates())
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestPayConcurrentFirstCalls(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		f := newFixture(t, d)
		ctx := context.Background()
		user := f.user(t)
		tour := f.tour(t, 10)
		id, _ := f.booking(t, tour, user, 2, booking.StatusPending, false)

		const n = 16
		var wg sync.WaitGroup
		results := make([]Payment, n)
		errs := make([]error, n)
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[i], errs[i] = f.svc.Pay(ctx, id, user)
			}()
		}
		close(start)
		wg.Wait()
		for i := range n {
			require.NoError(t, errs[i])
			require.Equal(t, results[0], results[i])
		}
		require.NotEmpty(t, results[0].Token)
		require.Equal(t, 1, f.fake.Creates(), "one Snap transaction per order_id")
	})
}

func TestPayRetriesAfterMidtransFailure(t *testing.T) {
	t.Parallel()
	f := newFixture(t, store.SQLite)
	ctx := context.Background()
	user := f.user(t)
	id, _ := f.booking(t, f.tour(t, 10), user, 1, booking.StatusPending, false)
	good := f.svc.client.SnapURL
	f.svc.client.SnapURL = "http://127.0.0.1:1" // nothing listens there
	_, err := f.svc.Pay(ctx, id, user)
	require.Equal(t, apperr.EUNAVAILABLE, apperr.Code(err))
	require.NotContains(t, err.Error(), testServerKey)

	// The failed attempt released its claim, so the next call goes through.
	f.svc.client.SnapURL = good
	p, err := f.svc.Pay(ctx, id, user)
	require.NoError(t, err)
	require.NotEmpty(t, p.Token)
}

func TestPayStaleClaimAndLostToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t, store.SQLite)
	ctx := context.Background()
	user := f.user(t)
	id, _ := f.booking(t, f.tour(t, 10), user, 1, booking.StatusPending, false)

	// A process claimed the booking and died before calling Midtrans.
	old := time.Now().UTC().Add(-time.Hour)
	_, err := f.db.ExecContext(ctx, "UPDATE bookings SET snap_claim = 'dead', snap_claimed_at = ? WHERE id = ?", old, id)
	require.NoError(t, err)
	p, err := f.svc.Pay(ctx, id, user)
	require.NoError(t, err)
	require.NotEmpty(t, p.Token)

	// A process that died after Midtrans created the transaction: the
	// token is gone and Midtrans refuses the order_id again.
	id2, code2 := f.booking(t, f.tour(t, 10), user, 1, booking.StatusPending, false)
	_, err = f.fake.Client().CreateTransaction(ctx, midtrans.SnapRequest{TransactionDetails: midtrans.TransactionDetails{OrderID: code2, GrossAmount: 150000}})
	require.NoError(t, err)
	_, err = f.db.ExecContext(ctx, "UPDATE bookings SET snap_claim = 'dead', snap_claimed_at = ? WHERE id = ?", old, id2)
	require.NoError(t, err)
	_, err = f.svc.Pay(ctx, id2, user)
	require.Equal(t, apperr.ECONFLICT, apperr.Code(err))

	// A fresh claim by someone else makes the caller wait, not call twice.
	id3, _ := f.booking(t, f.tour(t, 10), user, 1, booking.StatusPending, false)
	_, err = f.db.ExecContext(ctx, "UPDATE bookings SET snap_claim = 'busy', snap_claimed_at = ? WHERE id = ?", time.Now().UTC(), id3)
	require.NoError(t, err)
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	creates := f.fake.Creates()
	_, err = f.svc.Pay(wctx, id3, user)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, creates, f.fake.Creates())
}

func TestPayRefusesEndedHold(t *testing.T) {
	t.Parallel()
	f := newFixture(t, store.SQLite)
	ctx := context.Background()
	user := f.user(t)
	id, _ := f.booking(t, f.tour(t, 10), user, 1, booking.StatusPending, false)
	f.svc.now = func() time.Time { return time.Now().Add(29*time.Minute + 30*time.Second) }
	_, err := f.svc.Pay(ctx, id, user)
	require.Equal(t, apperr.ECONFLICT, apperr.Code(err))
	require.Equal(t, 0, f.fake.Creates())
}

func TestExpireSnap(t *testing.T) {
	t.Parallel()
	f := newFixture(t, store.SQLite)
	ctx := context.Background()
	user := f.user(t)
	id, code := f.booking(t, f.tour(t, 10), user, 1, booking.StatusPending, false)
	require.NoError(t, f.svc.ExpireSnap(ctx, "TRP-NEVER-OPENED"))
	_, err := f.svc.Pay(ctx, id, user)
	require.NoError(t, err)
	require.NoError(t, f.svc.ExpireSnap(ctx, code))
	tx, _ := f.fake.Transaction(code)
	require.Equal(t, "expire", tx.TransactionStatus)
	require.NoError(t, f.svc.ExpireSnap(ctx, code), "an already final transaction counts as done")
	f.fake.Close()
	require.Error(t, f.svc.ExpireSnap(ctx, code))
}
