package payment

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/payment/midtrans"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/tripinmysql"
	"github.com/tripintravel/tripin/queue/driver/tripinpgsql"
	"github.com/tripintravel/tripin/queue/driver/tripinsqlite"
)

func queueDriver(t *testing.T, db *store.DB) driver.Driver {
	t.Helper()
	switch db.Dialect {
	case store.SQLite:
		return tripinsqlite.New(db.DB, tripinsqlite.Options{})
	case store.PgSQL:
		return tripinpgsql.New(db.DB, tripinpgsql.Options{})
	}
	d, err := tripinmysql.New(context.Background(), db.DB, tripinmysql.Options{})
	require.NoError(t, err)
	return d
}

// TestExpireSnapOnCancel runs the whole path on every backend with the
// real queue engine: cancelling a booking that opened a Snap transaction
// inserts, in the cancel's transaction, a job that expires the transaction
// at Midtrans; a booking that never opened one costs nothing; a cancel
// that rolls back leaves no job; and the worker's call makes the
// transaction unpayable.
func TestExpireSnapOnCancel(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		f := newFixture(t, d)
		ctx := context.Background()
		ws := queue.NewWorkers()
		AddWorkers(ws, f.svc)
		client, err := queue.NewClient(queueDriver(t, f.db), &queue.Config{Workers: ws})
		require.NoError(t, err)
		var failNext error
		bookings := booking.NewService(booking.ServiceParams{Store: f.db, OnReleaseTx: []booking.TxHook{
			func(ctx context.Context, tx *sql.Tx, b *booking.Booking) error {
				return ExpireSnapsTx(ctx, tx, f.db, client, []int64{b.ID})
			},
			func(context.Context, *sql.Tx, *booking.Booking) error { return failNext },
		}})
		jobs := func() int {
			var n int
			require.NoError(t, f.db.QueryRow(f.db.Rebind("SELECT COUNT(*) FROM jobs WHERE kind = ?"), "ExpireSnapTransaction").Scan(&n))
			return n
		}
		user := f.user(t)
		owner := &booking.User{ID: user}
		tour := f.tour(t, 10)
		opened, code := f.booking(t, tour, user, 2, booking.StatusPending, false)
		_, err = f.svc.Pay(ctx, opened, user)
		require.NoError(t, err)
		never, _ := f.booking(t, tour, user, 1, booking.StatusPending, false)
		claimed, claimedCode := f.booking(t, tour, user, 1, booking.StatusPending, false)
		_, err = f.db.Exec(f.db.Rebind("UPDATE bookings SET snap_claim = 'c', snap_claimed_at = ? WHERE id = ?"), time.Now().UTC(), claimed)
		require.NoError(t, err)

		// A cancel that fails after the hook leaves neither the
		// cancellation nor the job.
		failNext = errors.New("later hook failed")
		_, err = bookings.Cancel(ctx, owner, opened)
		require.ErrorIs(t, err, failNext)
		require.Equal(t, booking.StatusPending, f.state(t, opened).Status)
		require.Zero(t, jobs())
		failNext = nil

		for _, id := range []int64{opened, never, claimed} {
			_, err = bookings.Cancel(ctx, owner, id)
			require.NoError(t, err)
		}
		require.Equal(t, 2, jobs(), "the booking with a Snap token and the one with a claim, not the one that never paid")
		tx, _ := f.fake.Transaction(code)
		require.Equal(t, "", tx.TransactionStatus, "still payable until the job runs")

		runCtx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		require.NoError(t, client.Run(runCtx, queue.WorkParams{StopWhenEmpty: true, RestartInterval: -1}))
		require.Zero(t, jobs())
		var failed int
		require.NoError(t, f.db.QueryRow("SELECT COUNT(*) FROM failed_jobs").Scan(&failed))
		require.Zero(t, failed, "a transaction Midtrans does not know (the claim's) counts as done")
		tx, _ = f.fake.Transaction(code)
		require.Equal(t, midtrans.StatusExpire, tx.TransactionStatus)
		_, known := f.fake.Transaction(claimedCode)
		require.False(t, known)
		requireInvariant(t, f.db)
	})
}

// TestExpireSnapsTxSyncConnection: the sync connection would call Midtrans
// inside the cancel's transaction; it inserts nothing instead.
func TestExpireSnapsTxSyncConnection(t *testing.T) {
	t.Parallel()
	f := newFixture(t, store.SQLite)
	ws := queue.NewWorkers()
	AddWorkers(ws, f.svc)
	client, err := queue.NewClient(nil, &queue.Config{Workers: ws, Connection: queue.ConnectionSync})
	require.NoError(t, err)
	user := f.user(t)
	id, code := f.booking(t, f.tour(t, 5), user, 1, booking.StatusPending, false)
	_, err = f.svc.Pay(context.Background(), id, user)
	require.NoError(t, err)
	require.NoError(t, f.db.InTx(context.Background(), func(tx *sql.Tx) error {
		return ExpireSnapsTx(context.Background(), tx, f.db, client, []int64{id})
	}))
	tx, _ := f.fake.Transaction(code)
	require.Equal(t, "", tx.TransactionStatus, "no call to Midtrans")
}

// TestExpireSnapWorkerWithoutKey: a worker process without a server key
// fails the job for good at once instead of retrying it for hours.
func TestExpireSnapWorkerWithoutKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t, store.SQLite)
	ws := queue.NewWorkers()
	AddWorkers(ws, nil)
	client, err := queue.NewClient(queueDriver(t, f.db), &queue.Config{Workers: ws})
	require.NoError(t, err)
	_, err = client.Insert(context.Background(), ExpireSnapTransaction{BookingID: 1, OrderID: "TRP-X"}, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, client.Run(ctx, queue.WorkParams{StopWhenEmpty: true, RestartInterval: -1}))
	var failed int
	var exception string
	require.NoError(t, f.db.QueryRow("SELECT COUNT(*), MAX(exception) FROM failed_jobs").Scan(&failed, &exception))
	require.Equal(t, 1, failed)
	require.Contains(t, exception, "MIDTRANS_SERVER_KEY")
	opts := ExpireSnapTransaction{}.InsertOpts()
	require.Greater(t, opts.Tries, 5, "retried for hours while Midtrans is down")
}
