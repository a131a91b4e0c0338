package app_test

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/app"
	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
	"github.com/tripintravel/tripin/queue/driver"
)

// newConfig returns the configuration of a fresh, migrated database of
// dialect d.
func newConfig(t *testing.T, d store.Dialect, extra map[string]string) *config.Config {
	t.Helper()
	dsn := storetest.NewDSN(t, d)
	db, err := store.Open(context.Background(), store.OpenParams{Dialect: d, DSN: dsn})
	require.NoError(t, err)
	_, err = db.Migrate(context.Background())
	require.NoError(t, err)
	require.NoError(t, db.Close())
	vals := map[string]string{
		"DB_CONNECTION": string(d), "DB_URL": dsn, "DB_DATABASE": dsn,
		"LOG_FILE": filepath.Join(t.TempDir(), "tripin.log"),
	}
	for k, v := range extra {
		vals[k] = v
	}
	cfg, err := config.FromMap(vals)
	require.NoError(t, err)
	return cfg
}

// appKinds is every job kind the application's workers run, beside the
// built-in noop, sleep and fail.
var appKinds = []string{
	"ExpireBooking", "ExpireSnapTransaction", "ExpireUnpaidBookings", "FaultHold", "FaultLedger",
	"MonitorQueues", "PruneOldRecords", "SendETicketEmail", "SendInvoiceEmail", "SendOpsNotifications",
}

// TestNewBuildsEveryPart: New opens the configured database, registers
// every job kind, and wires the booking service to the queue so that a
// booking inserts its invoice email and its own expiry job; Close closes
// the database it opened.
func TestNewBuildsEveryPart(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		a, err := app.New(ctx, newConfig(t, d, nil), app.Options{})
		require.NoError(t, err)
		closed := false
		t.Cleanup(func() {
			if !closed {
				a.Close()
			}
		})
		require.ElementsMatch(t, append([]string{"fail", "noop", "sleep"}, appKinds...), a.Queue.Workers().Kinds())
		require.Equal(t, "database", a.Queue.Connection())
		require.NotNil(t, a.QueueDriver)
		require.NotNil(t, a.Notifier)
		require.NotNil(t, a.Mail)
		require.NotNil(t, a.Bookings)
		require.NotNil(t, a.Accounts)
		require.NotNil(t, a.Limiter)
		require.Nil(t, a.Payments, "no Midtrans server key, no payment service")
		require.Nil(t, a.FakeMidtrans, "the local stand-in is for serving only")

		u, _, err := a.Accounts.Register(ctx, booking.NewUser{Name: "Ana", Email: "ana@example.com", Password: "a long enough password"})
		require.NoError(t, err)
		title, dest, desc, date := "Bromo sunrise", "East Java", "Jeep and crater", time.Now().AddDate(0, 1, 0).Format(time.DateOnly)
		price, capacity := int64(750000), 10
		tour, err := a.Bookings.CreateTour(ctx, booking.TourChanges{Title: &title, Destination: &dest, Description: &desc, DepartureDate: &date, Price: &price, Capacity: &capacity})
		require.NoError(t, err)
		res, err := a.Bookings.Book(ctx, booking.BookParams{UserID: u.ID, TourID: tour.ID, Quantity: 2})
		require.NoError(t, err)
		var kinds []string
		rows, err := a.DB.QueryContext(ctx, "SELECT payload FROM jobs ORDER BY id")
		require.NoError(t, err)
		for rows.Next() {
			var payload string
			require.NoError(t, rows.Scan(&payload))
			kinds = append(kinds, payload)
		}
		require.NoError(t, rows.Err())
		require.Len(t, kinds, 2, "the invoice email and the booking's expiry job")
		require.Contains(t, kinds[0], "SendInvoiceEmail")
		require.Contains(t, kinds[1], "ExpireBooking")
		require.Positive(t, res.Booking.ID)
		// Both jobs carry the booking's tags, so that the dashboard finds
		// them by the booking's id, its code, its customer or its tour.
		want := []string{"booking:" + strconv.FormatInt(res.Booking.ID, 10), "booking:" + res.Booking.Code,
			"user:" + strconv.FormatInt(u.ID, 10), "tour:" + strconv.FormatInt(tour.ID, 10)}
		for _, payload := range kinds {
			require.Equal(t, want, driver.PayloadTags([]byte(payload)), payload)
		}
		found, err := a.QueueDriver.(driver.JobBrowser).JobSearch(ctx, &driver.JobSearchParams{Tag: "booking:" + res.Booking.Code})
		require.NoError(t, err)
		require.Len(t, found.Entries, 2)

		db := a.DB
		a.Close()
		closed = true
		require.Error(t, db.PingContext(ctx), "Close closes the database New opened")
	})
}

// TestNewOnAGivenDatabase: with Options.DB the app uses that pool, and
// leaves it open on Close; BuiltinsOnly builds no mail, payment or
// booking service and registers only the built-in kinds.
func TestNewOnAGivenDatabase(t *testing.T) {
	ctx := context.Background()
	cfg := newConfig(t, store.SQLite, nil)
	d, dsn := app.DSN(cfg)
	db, err := store.Open(ctx, store.OpenParams{Dialect: d, DSN: dsn})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	prepared := 0
	a, err := app.New(ctx, cfg, app.Options{DB: db, BuiltinsOnly: true, PrepareDB: func(_ context.Context, got *store.DB) error {
		require.Same(t, db, got)
		prepared++
		return nil
	}})
	require.NoError(t, err)
	require.Equal(t, 1, prepared)
	require.Same(t, db, a.DB)
	require.Equal(t, []string{"fail", "noop", "sleep"}, a.Queue.Workers().Kinds())
	require.Nil(t, a.Mail)
	require.Nil(t, a.Bookings)
	a.Close()
	a.Close()
	require.NoError(t, db.PingContext(ctx), "the caller's database stays open")
}

// TestNewRefuses: a bad queue connection, or serving outside local mode
// without a Midtrans server key, is a configuration error naming the key.
func TestNewRefuses(t *testing.T) {
	ctx := context.Background()
	cfg := newConfig(t, store.SQLite, nil)
	_, err := app.New(ctx, cfg, app.Options{Connection: "rabbitmq"})
	var ce *config.Error
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "QUEUE_CONNECTION", ce.Key)

	staging := newConfig(t, store.SQLite, map[string]string{"APP_ENV": "staging", "APP_KEY": "base64:" + "c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seS0zMmJ5dGVzIQ=="})
	_, err = app.New(ctx, staging, app.Options{Web: true})
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "MIDTRANS_SERVER_KEY", ce.Key)

	_, err = app.New(ctx, nil, app.Options{})
	require.ErrorContains(t, err, "no configuration")
}

// TestNewWebStartsTheLocalMidtrans: serving in local mode without keys
// starts the stand-in for Midtrans and a payment service signed with its
// key; Close stops it.
func TestNewWebStartsTheLocalMidtrans(t *testing.T) {
	ctx := context.Background()
	cfg := newConfig(t, store.SQLite, map[string]string{"APP_ENV": "local"})
	a, err := app.New(ctx, cfg, app.Options{Web: true})
	require.NoError(t, err)
	require.NotNil(t, a.FakeMidtrans)
	require.NotNil(t, a.Payments)
	require.NotEmpty(t, cfg.MidtransServerKey)
	require.Equal(t, a.FakeMidtrans.Client().SnapURL, cfg.MidtransSnapURL)
	a.Close()
}
