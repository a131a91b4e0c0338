package expiry

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/schedule"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/tripinmysql"
	"github.com/tripintravel/tripin/queue/driver/tripinpgsql"
	"github.com/tripintravel/tripin/queue/driver/tripinsqlite"
)

func newDriver(t *testing.T, db *store.DB) driver.Driver {
	t.Helper()
	switch db.Dialect {
	case store.SQLite:
		return tripinsqlite.New(db.DB, tripinsqlite.Options{})
	case store.PgSQL:
		return tripinpgsql.New(db.DB, tripinpgsql.Options{})
	default:
		d, err := tripinmysql.New(context.Background(), db.DB, tripinmysql.Options{})
		require.NoError(t, err)
		return d
	}
}

// TestWithQueueEngine wires the expiry jobs to the real queue engine on
// every backend: a booking's ExpireBooking job is inserted in its
// transaction and expires it on time; the scheduler dispatches the sweep
// without overlapping, and dispatches it again only after a worker has
// finished the previous one.
func TestWithQueueEngine(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		f := newFixture(t, d)
		ws := queue.NewWorkers()
		_, err := Register(ws, Deps{DB: f.db, Expiry: holdFor})
		require.NoError(t, err)
		client, err := queue.NewClient(newDriver(t, f.db), &queue.Config{Workers: ws})
		require.NoError(t, err)
		work := func() {
			t.Helper()
			ctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			require.NoError(t, client.Run(ctx, queue.WorkParams{StopWhenEmpty: true, Concurrency: 2, RestartInterval: -1}))
		}
		jobs := func(kind string) int {
			var n int
			require.NoError(t, f.db.QueryRow(f.db.Rebind("SELECT COUNT(*) FROM jobs WHERE kind = ?"), kind).Scan(&n))
			return n
		}

		// ExpireBooking, inserted with the booking and due at its expires_at.
		shortHold := booking.NewService(booking.ServiceParams{Store: f.db, Location: time.UTC, Expiry: 2 * time.Second,
			OnCreateTx: []booking.TxHook{OnCreateTx(client)}})
		tour := f.tour(t, 10)
		res, err := shortHold.Book(ctx, booking.BookParams{UserID: f.user.ID, TourID: tour.ID, Quantity: 3})
		require.NoError(t, err)
		require.Equal(t, 1, jobs("ExpireBooking"))
		work() // not due yet: nothing to do
		require.Equal(t, "pending", status(t, f.db, res.Booking.ID))
		time.Sleep(3500 * time.Millisecond)
		work()
		require.Equal(t, "expired", status(t, f.db, res.Booking.ID))
		require.Equal(t, 10, quota(t, f.db, tour.ID))
		require.Zero(t, jobs("ExpireBooking"))

		// The sweep, dispatched by the scheduler without overlapping.
		old := f.book(t, f.old, tour, 2)
		s, err := schedule.New(time.UTC, schedule.Job(ExpireUnpaidBookings{}).EveryFiveMinutes().Name("expire-unpaid-bookings").WithoutOverlapping().OnOneServer())
		require.NoError(t, err)
		r, err := schedule.NewRunner(schedule.Config{Schedule: s, Dispatcher: client, DB: f.db})
		require.NoError(t, err)
		tick := time.Date(2026, 11, 27, 3, 5, 0, 0, time.UTC)
		require.Equal(t, schedule.OutcomeDispatched, r.RunTick(ctx, tick)[0].Outcome)
		require.Equal(t, schedule.OutcomeOverlapping, r.RunTick(ctx, tick.Add(5*time.Minute))[0].Outcome, "the sweep has not run yet")
		require.Equal(t, 1, jobs("ExpireUnpaidBookings"))
		work()
		require.Equal(t, "expired", status(t, f.db, old.ID))
		requireInvariant(t, f.db)
		require.Equal(t, schedule.OutcomeDispatched, r.RunTick(ctx, tick.Add(10*time.Minute))[0].Outcome, "the sweep finished")
	})
}

func TestOnCreateTxSkipsSyncConnection(t *testing.T) {
	ws := queue.NewWorkers()
	f := newFixture(t, store.SQLite)
	_, err := Register(ws, Deps{DB: f.db, Expiry: holdFor})
	require.NoError(t, err)
	client, err := queue.NewClient(nil, &queue.Config{Workers: ws, Connection: queue.ConnectionSync})
	require.NoError(t, err)
	svc := booking.NewService(booking.ServiceParams{Store: f.db, Expiry: holdFor, OnCreateTx: []booking.TxHook{OnCreateTx(client)}})
	tour := f.tour(t, 5)
	done := make(chan error, 1)
	go func() {
		_, err := svc.Book(context.Background(), booking.BookParams{UserID: f.user.ID, TourID: tour.ID, Quantity: 1})
		done <- err
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("booking with the sync connection hung")
	}
	require.Equal(t, 4, quota(t, f.db, tour.ID))
}
