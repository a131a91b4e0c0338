package store_test

import (
	"context"
	"database/sql"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/apperr"
	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

var testNow = storetest.SeedNow

func mkUser(t *testing.T, db *store.DB, email string) *booking.User {
	return storetest.SeedUser(t, db, email)
}

func mkTour(t *testing.T, db *store.DB, date string, capacity int) *booking.Tour {
	return storetest.SeedTour(t, db, date, capacity)
}

func book(t *testing.T, db *store.DB, u *booking.User, tour *booking.Tour, qty int, code string) (*booking.Booking, error) {
	return storetest.SeedBooking(t, db, u, tour, qty, code)
}

func requireInvariant(t *testing.T, db *store.DB) {
	t.Helper()
	bad, err := db.TourCheckInvariant(context.Background())
	require.NoError(t, err)
	require.Empty(t, bad)
}

func TestUsersAndTokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		db := storetest.Open(t, d)
		u := mkUser(t, db, "ayu@example.com")
		require.NotZero(t, u.ID)

		err := db.UserCreate(ctx, &booking.User{Name: "dup", Email: "ayu@example.com", PasswordHash: "x", CreatedAt: testNow, UpdatedAt: testNow})
		require.Equal(t, apperr.ECONFLICT, apperr.Code(err))

		got, err := db.UserGetByEmail(ctx, "ayu@example.com")
		require.NoError(t, err)
		require.Equal(t, u.ID, got.ID)
		require.False(t, got.IsAdmin)
		require.True(t, got.CreatedAt.Equal(testNow), "created_at %v", got.CreatedAt)

		_, err = db.UserGet(ctx, u.ID+100)
		require.True(t, apperr.IsNotFound(err))

		hash := booking.HashToken("trp_example")
		require.NoError(t, db.TokenCreate(ctx, u.ID, "login", hash, testNow, testNow.Add(time.Hour)))
		tu, err := db.TokenUser(ctx, hash, testNow, testNow.Add(-time.Hour))
		require.NoError(t, err)
		require.Equal(t, u.Email, tu.Email)
		_, err = db.TokenUser(ctx, booking.HashToken("other"), testNow, testNow.Add(-time.Hour))
		require.True(t, apperr.IsNotFound(err))

		require.NoError(t, db.TokenDelete(ctx, hash))
		_, err = db.TokenUser(ctx, hash, testNow, testNow.Add(-time.Hour))
		require.True(t, apperr.IsNotFound(err))

		// Only the hash is stored.
		var stored string
		require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM personal_access_tokens").Scan(&stored))
		require.Equal(t, "0", stored)
	})
}

func TestTours(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		db := storetest.Open(t, d)
		past := mkTour(t, db, "2026-11-20", 10)
		today := mkTour(t, db, "2026-11-27", 10)
		b1 := mkTour(t, db, "2026-12-10", 10)
		b2 := mkTour(t, db, "2026-12-01", 20)
		lombok := &booking.Tour{Title: "Gili 100%_fun!", Destination: "Lombok", DepartureDate: "2026-12-05", Price: 0,
			Capacity: 5, Quota: 5, CreatedAt: testNow, UpdatedAt: testNow}
		require.NoError(t, db.TourCreate(ctx, lombok))

		got, err := db.TourGet(ctx, b1.ID)
		require.NoError(t, err)
		require.Equal(t, "2026-12-10", got.DepartureDate)
		require.Equal(t, int64(1_500_000), got.Price)

		list, total, err := db.TourList(ctx, booking.TourFilter{After: "2026-11-27", Page: booking.Page{Number: 1, PerPage: 10}})
		require.NoError(t, err)
		require.Equal(t, 3, total)
		require.Equal(t, []int64{b2.ID, lombok.ID, b1.ID}, ids(list))

		list, total, err = db.TourList(ctx, booking.TourFilter{Destination: "bal", Page: booking.Page{Number: 2, PerPage: 2}})
		require.NoError(t, err)
		require.Equal(t, 4, total)
		require.Equal(t, []int64{b2.ID, b1.ID}, ids(list))
		_ = past
		_ = today

		for _, meta := range []string{"%", "_", "!", "' OR 1=1 --", `\`} {
			_, total, err = db.TourList(ctx, booking.TourFilter{Destination: meta, Page: booking.Page{Number: 1, PerPage: 10}})
			require.NoError(t, err, meta)
			require.Equal(t, 0, total, meta)
		}
		list, _, err = db.TourList(ctx, booking.TourFilter{From: "2026-12-05", To: "2026-12-05", Page: booking.Page{Number: 1, PerPage: 10}})
		require.NoError(t, err)
		require.Equal(t, []int64{lombok.ID}, ids(list))

		// Capacity changes move the quota and never go below held seats.
		u := mkUser(t, db, "a@example.com")
		_, err = book(t, db, u, b2, 8, "TRP-20261127-AAAAAA")
		require.NoError(t, err)
		capacity := 12
		up, err := db.TourUpdate(ctx, b2.ID, booking.TourChanges{Capacity: &capacity}, testNow)
		require.NoError(t, err)
		require.Equal(t, 12, up.Capacity)
		require.Equal(t, 4, up.Quota)
		capacity = 7
		_, err = db.TourUpdate(ctx, b2.ID, booking.TourChanges{Capacity: &capacity}, testNow)
		require.Equal(t, apperr.EINVALID, apperr.Code(err))
		title := "Renamed"
		up, err = db.TourUpdate(ctx, b2.ID, booking.TourChanges{Title: &title}, testNow)
		require.NoError(t, err)
		require.Equal(t, "Renamed", up.Title)
		require.Equal(t, 12, up.Capacity)
		_, err = db.TourUpdate(ctx, 999999, booking.TourChanges{Title: &title}, testNow)
		require.True(t, apperr.IsNotFound(err))
		requireInvariant(t, db)

		require.Equal(t, apperr.ECONFLICT, apperr.Code(db.TourDelete(ctx, b2.ID)))
		require.NoError(t, db.TourDelete(ctx, b1.ID))
		require.True(t, apperr.IsNotFound(db.TourDelete(ctx, b1.ID)))
		_, err = db.TourGet(ctx, b1.ID)
		require.True(t, apperr.IsNotFound(err))
	})
}

func ids(ts []*booking.Tour) []int64 {
	var out []int64
	for _, t := range ts {
		out = append(out, t.ID)
	}
	return out
}

func TestTakeSeatsAndRelease(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		db := storetest.Open(t, d)
		u := mkUser(t, db, "b@example.com")
		tour := mkTour(t, db, "2026-12-01", 5)
		departed := mkTour(t, db, "2026-11-27", 5)

		b, err := book(t, db, u, tour, 3, "TRP-20261127-BBBBBB")
		require.NoError(t, err)
		require.NotZero(t, b.ID)
		_, err = book(t, db, u, tour, 3, "TRP-20261127-CCCCCC")
		require.Equal(t, apperr.ESOLDOUT, apperr.Code(err))
		_, err = book(t, db, u, departed, 1, "TRP-20261127-DDDDDD")
		require.True(t, apperr.IsNotFound(err))
		_, err = book(t, db, u, &booking.Tour{ID: 424242}, 1, "TRP-20261127-EEEEEE")
		require.True(t, apperr.IsNotFound(err))
		_, err = book(t, db, u, tour, 1, "TRP-20261127-BBBBBB")
		require.Equal(t, apperr.ECONFLICT, apperr.Code(err), "duplicate code")
		requireInvariant(t, db)

		free := &booking.Tour{Title: "Free walk", Destination: "Jakarta", DepartureDate: "2026-12-02", Price: 0,
			Capacity: 3, Quota: 3, CreatedAt: testNow, UpdatedAt: testNow}
		require.NoError(t, db.TourCreate(ctx, free))
		fb, err := book(t, db, u, free, 2, "TRP-20261127-FFFFFF")
		require.NoError(t, err)
		require.Equal(t, int64(0), fb.UnitPrice, "a free tour's price comes back as 0")

		got, err := db.BookingGet(ctx, b.ID)
		require.NoError(t, err)
		require.Equal(t, booking.StatusPending, got.Status)
		require.Equal(t, int64(4_500_000), got.TotalAmount)
		require.True(t, got.ExpiresAt.Equal(testNow.Add(30*time.Minute)), "expires_at %v", got.ExpiresAt)
		require.Nil(t, got.PaidAt)
		byCode, err := db.BookingGetByCode(ctx, "TRP-20261127-BBBBBB")
		require.NoError(t, err)
		require.Equal(t, b.ID, byCode.ID)

		list, total, err := db.BookingListByUser(ctx, u.ID, booking.Page{Number: 1, PerPage: 1})
		require.NoError(t, err)
		require.Equal(t, 2, total)
		require.Len(t, list, 1)
		require.Equal(t, fb.ID, list[0].ID, "newest first")

		// Release is idempotent: only the first move gives seats back.
		for i, want := range []bool{true, false} {
			var released bool
			require.NoError(t, db.InTx(ctx, func(tx *sql.Tx) error {
				released, err = db.BookingReleaseTx(ctx, tx, b.ID, booking.StatusExpired, testNow)
				return err
			}))
			require.Equal(t, want, released, "attempt %d", i)
			requireInvariant(t, db)
		}
		tr, err := db.TourGet(ctx, tour.ID)
		require.NoError(t, err)
		require.Equal(t, 5, tr.Quota)
		got, err = db.BookingGet(ctx, b.ID)
		require.NoError(t, err)
		require.Equal(t, booking.StatusExpired, got.Status)
		require.NotNil(t, got.ExpiredAt)
		require.Nil(t, got.CancelledAt)
	})
}

// TestConcurrentTakeSeats races many transactions for few seats.
func TestConcurrentTakeSeats(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		db := storetest.Open(t, d)
		u := mkUser(t, db, "c@example.com")
		tour := mkTour(t, db, "2026-12-01", 20)
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			sold int
		)
		for i := 0; i < 60; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := book(t, db, u, tour, 1, booking.NewCode(testNow, time.UTC))
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					sold++
				} else if apperr.Code(err) != apperr.ESOLDOUT {
					t.Errorf("book: %v", err)
				}
			}()
		}
		wg.Wait()
		require.Equal(t, 20, sold)
		requireInvariant(t, db)
	})
}

func TestIdempotencyKeys(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		db := storetest.Open(t, d)
		u := mkUser(t, db, "d@example.com")
		other := mkUser(t, db, "e@example.com")
		rec := &booking.IdempotencyRecord{UserID: u.ID, Key: "k-1", RequestHash: "h", StatusCode: 201, Body: []byte(`{"id":1}`), CreatedAt: testNow}
		_, err := db.IdempotencyGet(ctx, u.ID, "k-1")
		require.True(t, apperr.IsNotFound(err))
		insert := func(r *booking.IdempotencyRecord) error {
			return db.InTx(ctx, func(tx *sql.Tx) error { return db.IdempotencyInsertTx(ctx, tx, r) })
		}
		require.NoError(t, insert(rec))
		require.Equal(t, apperr.ECONFLICT, apperr.Code(insert(rec)))
		// Keys are per user.
		require.NoError(t, insert(&booking.IdempotencyRecord{UserID: other.ID, Key: "k-1", RequestHash: "h2", StatusCode: 201, Body: []byte(`{}`), CreatedAt: testNow}))
		got, err := db.IdempotencyGet(ctx, u.ID, "k-1")
		require.NoError(t, err)
		require.Equal(t, "h", got.RequestHash)
		require.JSONEq(t, `{"id":1}`, string(got.Body))
		require.Equal(t, 201, got.StatusCode)
	})
}

// TestServiceHooksAndRelease runs booking.Service on each backend: the
// OnCreateTx hook writes in the booking's transaction (and a failing hook
// undoes the booking), and ReleaseTx releases once, running OnReleaseTx.
func TestServiceHooksAndRelease(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		db := storetest.Open(t, d)
		u := mkUser(t, db, "hooks@example.com")
		tour := mkTour(t, db, "2099-01-01", 10)
		var released []booking.Status
		failHook := false
		svc := booking.NewService(booking.ServiceParams{
			Store: db, Expiry: time.Minute, MaxQuantity: 5,
			// The hook writes the booking's own row.
			HooksAfterInsert: true,
			OnCreateTx: []booking.TxHook{func(ctx context.Context, tx *sql.Tx, b *booking.Booking) error {
				// A write in the same transaction, as the queue's InsertTx does.
				if _, err := tx.ExecContext(ctx, db.Rebind("UPDATE bookings SET transaction_status = 'hooked' WHERE id = ?"), b.ID); err != nil {
					return err
				}
				if failHook {
					return sql.ErrTxDone
				}
				return nil
			}},
			OnReleaseTx: []booking.TxHook{func(ctx context.Context, tx *sql.Tx, b *booking.Booking) error {
				released = append(released, b.Status)
				return nil
			}},
		})
		res, err := svc.Book(ctx, booking.BookParams{UserID: u.ID, TourID: tour.ID, Quantity: 3})
		require.NoError(t, err)
		var status sql.NullString
		require.NoError(t, db.QueryRowContext(ctx, db.Rebind("SELECT transaction_status FROM bookings WHERE id = ?"), res.Booking.ID).Scan(&status))
		require.Equal(t, "hooked", status.String)

		failHook = true
		_, err = svc.Book(ctx, booking.BookParams{UserID: u.ID, TourID: tour.ID, Quantity: 2})
		require.ErrorIs(t, err, sql.ErrTxDone)
		got, err := db.TourGet(ctx, tour.ID)
		require.NoError(t, err)
		require.Equal(t, 7, got.Quota, "the failed hook rolled the seats back")
		var n int
		require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM bookings").Scan(&n))
		require.Equal(t, 1, n)

		for i := 0; i < 2; i++ {
			ok, err := svc.Release(ctx, res.Booking.ID, booking.StatusExpired)
			require.NoError(t, err)
			require.Equal(t, i == 0, ok)
		}
		require.Equal(t, []booking.Status{booking.StatusExpired}, released)
		_, err = svc.Release(ctx, res.Booking.ID, booking.StatusPaid)
		require.Error(t, err, "release only moves to expired, cancelled or failed")
		requireInvariant(t, db)
	})
}

// TestBookingCreateTx checks the one-call booking write (a single
// statement on PostgreSQL) on every backend.
func TestBookingCreateTx(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		db := storetest.Open(t, d)
		u := mkUser(t, db, "create@example.com")
		tour := mkTour(t, db, "2026-12-01", 4)
		departed := mkTour(t, db, "2026-11-27", 4)
		const hold = 30*time.Minute + 1500*time.Microsecond
		var thenRan int
		then := func(*sql.Tx) error { thenRan++; return nil }
		createAt := func(tourID int64, qty int, code string, price int64) (*booking.Booking, error) {
			b := &booking.Booking{Code: code, Status: booking.StatusPending, UserID: u.ID, TourID: tourID, Quantity: qty,
				UnitPrice: price, TotalAmount: price * int64(qty)}
			err := db.InTx(ctx, func(tx *sql.Tx) error {
				return db.BookingCreateTx(ctx, tx, b, "2026-11-27", hold, func() error { return then(tx) })
			})
			return b, err
		}
		create := func(tourID int64, qty int, code string) (*booking.Booking, error) {
			return createAt(tourID, qty, code, 1_500_000)
		}
		before, err := db.Now(ctx)
		require.NoError(t, err)
		b, err := create(tour.ID, 3, "TRP-20261127-GGGGGG")
		require.NoError(t, err)
		after, err := db.Now(ctx)
		require.NoError(t, err)
		require.NotZero(t, b.ID)
		require.Equal(t, 1, thenRan)
		require.Equal(t, int64(1_500_000), b.UnitPrice)
		require.Equal(t, int64(4_500_000), b.TotalAmount)
		stored, err := db.BookingGet(ctx, b.ID)
		require.NoError(t, err)
		require.Equal(t, b.TotalAmount, stored.TotalAmount)
		// The times come from the database's clock, as the store keeps
		// them, and the hold is added exactly.
		require.Equal(t, stored.CreatedAt, b.CreatedAt)
		require.Equal(t, stored.ExpiresAt, b.ExpiresAt)
		require.Equal(t, stored.UpdatedAt, b.UpdatedAt)
		require.Equal(t, hold, b.ExpiresAt.Sub(b.CreatedAt))
		require.False(t, b.CreatedAt.Before(before.Add(-time.Millisecond)), "created %s, clock before %s", b.CreatedAt, before)
		require.False(t, b.CreatedAt.After(after.Add(time.Millisecond)), "created %s, clock after %s", b.CreatedAt, after)

		_, err = create(tour.ID, 2, "TRP-20261127-HHHHHH")
		require.Equal(t, apperr.ESOLDOUT, apperr.Code(err))
		_, err = create(tour.ID, 1, "TRP-20261127-GGGGGG")
		require.Equal(t, apperr.ECONFLICT, apperr.Code(err), "taken code")
		_, err = create(departed.ID, 1, "TRP-20261127-JJJJJJ")
		require.True(t, apperr.IsNotFound(err))
		_, err = create(987654, 1, "TRP-20261127-KKKKKK")
		require.True(t, apperr.IsNotFound(err))
		// The tour's price changed since the booking was priced.
		_, err = createAt(tour.ID, 1, "TRP-20261127-LLLLLL", 1_400_000)
		require.Equal(t, apperr.ECONFLICT, apperr.Code(err))
		require.ErrorIs(t, err, booking.ErrPriceChanged)
		// What then wrote goes with a booking refused for want of seats
		// (on PostgreSQL then runs before the seat statement).
		then = func(tx *sql.Tx) error {
			return db.IdempotencyInsertTx(ctx, tx, &booking.IdempotencyRecord{UserID: u.ID, Key: "then", RequestHash: "h",
				StatusCode: 201, Body: []byte(`{}`), CreatedAt: testNow})
		}
		_, err = create(tour.ID, 2, "TRP-20261127-NNNNNN")
		require.Equal(t, apperr.ESOLDOUT, apperr.Code(err))
		_, err = db.IdempotencyGet(ctx, u.ID, "then")
		require.True(t, apperr.IsNotFound(err), "%v", err)
		// An error of then rolls everything back and is returned as it is.
		then = func(*sql.Tx) error { return sql.ErrConnDone }
		_, err = create(tour.ID, 1, "TRP-20261127-MMMMMM")
		require.ErrorIs(t, err, sql.ErrConnDone)
		got, err := db.TourGet(ctx, tour.ID)
		require.NoError(t, err)
		require.Equal(t, 1, got.Quota, "failed attempts took nothing")
		requireInvariant(t, db)
	})
}

// TestBookingCreateTxUsesTheDatabaseClock moves MySQL's clock for one
// session (SET timestamp) far from the local one: the booking's times
// follow the database.
func TestBookingCreateTxUsesTheDatabaseClock(t *testing.T) {
	if !slices.Contains(storetest.Dialects(), store.MySQL) {
		t.Skipf("%s not set", storetest.MySQLEnv)
	}
	ctx := context.Background()
	db := storetest.Open(t, store.MySQL)
	u := mkUser(t, db, "clock@example.com")
	tour := mkTour(t, db, "2030-12-01", 4)
	dbNow := time.Date(2029, 3, 4, 5, 6, 7, 250000000, time.UTC)
	b := &booking.Booking{Code: "TRP-20290304-CLOCK1", Status: booking.StatusPending, UserID: u.ID, TourID: tour.ID, Quantity: 1,
		UnitPrice: tour.Price, TotalAmount: tour.Price}
	err := db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "SET timestamp = ?", float64(dbNow.UnixMilli())/1000); err != nil {
			return err
		}
		// The session clock must not outlive this transaction's connection.
		defer tx.ExecContext(ctx, "SET timestamp = DEFAULT") //nolint:errcheck
		return db.BookingCreateTx(ctx, tx, b, "2029-03-04", time.Hour, nil)
	})
	require.NoError(t, err)
	require.Equal(t, dbNow, b.CreatedAt)
	require.Equal(t, dbNow.Add(time.Hour), b.ExpiresAt)
	stored, err := db.BookingGet(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, dbNow, stored.CreatedAt)
	require.Equal(t, dbNow.Add(time.Hour), stored.ExpiresAt)
}

// TestBookSoldOutDoesNotWaitForTheTourLock holds the tour's row lock (on
// SQLite, the write lock) in another transaction that ends only after the
// booking of a sold-out tour has been answered: the answer is 409 only
// because the booking never waited for that lock. A booking that still
// fits does wait for it, and gets the last seat once the lock is gone.
func TestBookSoldOutDoesNotWaitForTheTourLock(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		db := storetest.Open(t, d)
		u := mkUser(t, db, "flash@example.com")
		tour := mkTour(t, db, "2099-01-01", 3)
		svc := booking.NewService(booking.ServiceParams{Store: db, Expiry: time.Minute})
		_, err := svc.Book(ctx, booking.BookParams{UserID: u.ID, TourID: tour.ID, Quantity: 2})
		require.NoError(t, err)

		locked, answered := make(chan struct{}), make(chan struct{})
		holder := make(chan error, 1)
		go func() {
			holder <- db.InTx(ctx, func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, db.Rebind("UPDATE tours SET quota = quota WHERE id = ?"), tour.ID); err != nil {
					return err
				}
				close(locked)
				<-answered
				return nil
			})
		}()
		<-locked
		soldOut := make(chan error, 1)
		go func() {
			_, err := svc.Book(ctx, booking.BookParams{UserID: u.ID, TourID: tour.ID, Quantity: 2})
			soldOut <- err
		}()
		select {
		case err = <-soldOut:
		case <-time.After(30 * time.Second):
			// Only a failing run gets here: the booking waits for the lock,
			// which is held until it is answered.
			close(answered)
			t.Fatalf("the booking of a sold-out tour waited for the tour's lock (then: %v)", <-soldOut)
		}
		require.Equal(t, apperr.ESOLDOUT, apperr.Code(err), "%v", err)
		require.Contains(t, err.Error(), "Only 1 seat(s) left")

		fits := make(chan error, 1)
		go func() {
			_, err := svc.Book(ctx, booking.BookParams{UserID: u.ID, TourID: tour.ID, Quantity: 1})
			fits <- err
		}()
		select {
		case err := <-fits:
			t.Fatalf("a booking that fits did not wait for the tour's lock: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
		close(answered)
		require.NoError(t, <-holder)
		require.NoError(t, <-fits)
		got, err := db.TourGet(ctx, tour.ID)
		require.NoError(t, err)
		require.Equal(t, 0, got.Quota)
		requireInvariant(t, db)
	})
}
