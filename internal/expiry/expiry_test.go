package expiry

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/apperr"
	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

const holdFor = 30 * time.Minute

type fixture struct {
	db   *store.DB
	user *booking.User
	// old books as if two hours ago (due for expiry); fresh books now.
	old, fresh *booking.Service
}

func newFixture(t testing.TB, d store.Dialect) *fixture {
	t.Helper()
	db := storetest.Open(t, d)
	now := time.Now().UTC()
	u := &booking.User{Name: "Customer", Email: "c@example.com", PasswordHash: "x", CreatedAt: now, UpdatedAt: now}
	require.NoError(t, db.UserCreate(context.Background(), u))
	svc := func(now func() time.Time) *booking.Service {
		return booking.NewService(booking.ServiceParams{Store: db, Now: now, Location: time.UTC, Expiry: holdFor, MaxQuantity: 10})
	}
	return &fixture{
		db: db, user: u,
		old:   svc(func() time.Time { return time.Now().Add(-2 * time.Hour) }),
		fresh: svc(time.Now),
	}
}

func (f *fixture) tour(t testing.TB, capacity int) *booking.Tour {
	t.Helper()
	now := time.Now().UTC()
	tour := &booking.Tour{Title: "Bromo sunrise", Destination: "Bromo", DepartureDate: "2030-01-15", Price: 750_000,
		Capacity: capacity, Quota: capacity, CreatedAt: now, UpdatedAt: now}
	require.NoError(t, f.db.TourCreate(context.Background(), tour))
	return tour
}

func (f *fixture) book(t testing.TB, svc *booking.Service, tour *booking.Tour, qty int) *booking.Booking {
	t.Helper()
	res, err := svc.Book(context.Background(), booking.BookParams{UserID: f.user.ID, TourID: tour.ID, Quantity: qty})
	require.NoError(t, err)
	if svc == f.old {
		// A booking's times come from the database's clock, whatever the
		// service's clock says: age this one by hand.
		ageBooking(t, f.db, res.Booking, 2*time.Hour)
	}
	return res.Booking
}

// ageBooking moves a booking's created_at and expires_at back by d, as if
// it had been made d ago.
func ageBooking(t testing.TB, db *store.DB, b *booking.Booking, d time.Duration) {
	t.Helper()
	b.CreatedAt, b.ExpiresAt = b.CreatedAt.Add(-d), b.ExpiresAt.Add(-d)
	_, err := db.ExecContext(context.Background(), db.Rebind("UPDATE bookings SET created_at = ?, expires_at = ? WHERE id = ?"),
		b.CreatedAt, b.ExpiresAt, b.ID)
	require.NoError(t, err)
}

// pay records a payment the way the payment handler does: one conditional
// update of a pending booking, under its row lock. It reports whether the
// payment won.
func pay(ctx context.Context, db *store.DB, id int64) (bool, error) {
	var won bool
	err := db.InTx(ctx, func(tx *sql.Tx) error {
		now := time.Now().UTC()
		res, err := tx.ExecContext(ctx, db.Rebind(`UPDATE bookings SET status = 'paid', paid_at = ?, updated_at = ? WHERE id = ? AND status = 'pending'`), now, now, id)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		won = n == 1
		return err
	})
	return won, err
}

func status(t testing.TB, db *store.DB, id int64) string {
	t.Helper()
	var s string
	require.NoError(t, db.QueryRow(db.Rebind("SELECT status FROM bookings WHERE id = ?"), id).Scan(&s))
	return s
}

func quota(t testing.TB, db *store.DB, tourID int64) int {
	t.Helper()
	var q int
	require.NoError(t, db.QueryRow(db.Rebind("SELECT quota FROM tours WHERE id = ?"), tourID).Scan(&q))
	return q
}

func requireInvariant(t testing.TB, db *store.DB) {
	t.Helper()
	bad, err := db.TourCheckInvariant(context.Background())
	require.NoError(t, err)
	require.Empty(t, bad)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestSweep(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		f := newFixture(t, d)
		tourA, tourB := f.tour(t, 50), f.tour(t, 50)
		var due []*booking.Booking
		for i := range 7 {
			tour := tourA
			if i%2 == 1 {
				tour = tourB
			}
			due = append(due, f.book(t, f.old, tour, 1+i%3))
		}
		paidOld := f.book(t, f.old, tourA, 2)
		won, err := pay(ctx, f.db, paidOld.ID)
		require.NoError(t, err)
		require.True(t, won)
		fresh := f.book(t, f.fresh, tourA, 4)
		quotaA, quotaB := quota(t, f.db, tourA.ID), quota(t, f.db, tourB.ID)

		logs := &syncBuffer{}
		deps := Deps{DB: f.db, Expiry: holdFor, ChunkSize: 3, Logger: slog.New(slog.NewTextHandler(logs, nil))}
		x, err := New(deps)
		require.NoError(t, err)
		res, err := x.Sweep(ctx)
		require.NoError(t, err)

		wantA, wantB := 0, 0
		for i, b := range due {
			require.Equal(t, "expired", status(t, f.db, b.ID), b.Code)
			require.Contains(t, logs.String(), "code="+b.Code)
			if i%2 == 1 {
				wantB += b.Quantity
			} else {
				wantA += b.Quantity
			}
		}
		require.Equal(t, 7, res.Expired)
		require.Equal(t, wantA+wantB, res.SeatsReturned)
		require.Equal(t, map[int64]int{tourA.ID: wantA, tourB.ID: wantB}, res.Tours)
		require.Equal(t, 3, res.Transactions, "chunks of 3: 3 + 3 + 1")
		require.Equal(t, quotaA+wantA, quota(t, f.db, tourA.ID))
		require.Equal(t, quotaB+wantB, quota(t, f.db, tourB.ID))
		require.Equal(t, "paid", status(t, f.db, paidOld.ID))
		require.Equal(t, "pending", status(t, f.db, fresh.ID))
		require.Contains(t, logs.String(), "seats_returned=")
		requireInvariant(t, f.db)

		// Idempotent: a second sweep changes nothing.
		res, err = x.Sweep(ctx)
		require.NoError(t, err)
		require.Equal(t, 0, res.Expired)
		require.Equal(t, 1, res.Transactions)
		require.Equal(t, quotaA+wantA, quota(t, f.db, tourA.ID))
		require.Equal(t, quotaB+wantB, quota(t, f.db, tourB.ID))
		requireInvariant(t, f.db)
	})
}

func TestSweepFullLastChunk(t *testing.T) {
	f := newFixture(t, store.SQLite)
	tour := f.tour(t, 20)
	for range 4 {
		f.book(t, f.old, tour, 1)
	}
	x, err := New(Deps{DB: f.db, Expiry: holdFor, ChunkSize: 2})
	require.NoError(t, err)
	res, err := x.Sweep(context.Background())
	require.NoError(t, err)
	require.Equal(t, 4, res.Expired)
	require.Equal(t, 3, res.Transactions, "2 + 2 + an empty chunk that ends the sweep")
	require.Equal(t, 20, quota(t, f.db, tour.ID))
}

func TestExpireOne(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		f := newFixture(t, d)
		tour := f.tour(t, 10)
		due := f.book(t, f.old, tour, 3)
		paid := f.book(t, f.old, tour, 2)
		_, err := pay(ctx, f.db, paid.ID)
		require.NoError(t, err)
		notYet := f.book(t, f.fresh, tour, 1)
		x, err := New(Deps{DB: f.db, Expiry: holdFor})
		require.NoError(t, err)

		ok, err := x.ExpireOne(ctx, due.ID)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, "expired", status(t, f.db, due.ID))
		require.Equal(t, 10-2-1, quota(t, f.db, tour.ID))

		ok, err = x.ExpireOne(ctx, due.ID)
		require.NoError(t, err)
		require.False(t, ok, "idempotent")
		require.Equal(t, 10-2-1, quota(t, f.db, tour.ID))

		ok, err = x.ExpireOne(ctx, paid.ID)
		require.NoError(t, err)
		require.False(t, ok, "a paid booking keeps its seats")
		require.Equal(t, "paid", status(t, f.db, paid.ID))

		_, err = x.ExpireOne(ctx, notYet.ID)
		var nd *NotDueError
		require.ErrorAs(t, err, &nd)
		require.InDelta(t, holdFor.Seconds(), nd.Remaining.Seconds(), 60)
		require.Equal(t, "pending", status(t, f.db, notYet.ID))

		_, err = x.ExpireOne(ctx, 999_999)
		require.Equal(t, apperr.ENOTFOUND, apperr.Code(err))
		requireInvariant(t, f.db)
	})
}

// TestExpiryRacesPaymentsAndBookings expires bookings while others are
// being created and paid, on every backend: afterwards every tour balances,
// every payment that won kept its booking paid with its seats, and every
// booking is in exactly one state.
func TestExpiryRacesPaymentsAndBookings(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		f := newFixture(t, d)
		tours := []*booking.Tour{f.tour(t, 400), f.tour(t, 400), f.tour(t, 400)}
		var old []*booking.Booking
		for i := range 150 {
			old = append(old, f.book(t, f.old, tours[i%3], 1+i%4))
		}
		x, err := New(Deps{DB: f.db, Expiry: holdFor, ChunkSize: 25})
		require.NoError(t, err)
		// A second sweeper, as a second server's scheduler would run.
		xr, err := New(Deps{DB: f.db, Expiry: holdFor, ChunkSize: 25})
		require.NoError(t, err)

		var (
			wg      sync.WaitGroup
			paidMu  sync.Mutex
			paid    = map[int64]bool{}
			created atomic.Int32
			errs    = make(chan error, 100)
		)
		report := func(err error) {
			if err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		}
		payRandom := func(ids []int64, seed uint64) {
			r := rand.New(rand.NewPCG(seed, 1))
			for _, i := range r.Perm(len(ids)) {
				won, err := pay(ctx, f.db, ids[i])
				report(err)
				if won {
					paidMu.Lock()
					paid[ids[i]] = true
					paidMu.Unlock()
				}
			}
		}
		oldIDs := make([]int64, len(old))
		for i, b := range old {
			oldIDs[i] = b.ID
		}
		// Two payers race the expirers for the same old bookings, one for
		// each half.
		for p := range 2 {
			half := oldIDs[p*len(oldIDs)/2 : (p+1)*len(oldIDs)/2]
			wg.Add(1)
			go func() { defer wg.Done(); payRandom(half, uint64(p)) }()
		}
		// Sweeps (set-based and through the booking service) and per-booking
		// expiry jobs run at the same time.
		for _, sweeper := range []*Expirer{x, xr} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 3 {
					_, err := sweeper.Sweep(ctx)
					report(err)
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, id := range oldIDs[len(oldIDs)/3:] {
				_, err := x.ExpireOne(ctx, id)
				report(err)
			}
		}()
		// Customers keep booking (and some pay) meanwhile.
		for c := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 20 {
					res, err := f.fresh.Book(ctx, booking.BookParams{UserID: f.user.ID, TourID: tours[(c+i)%3].ID, Quantity: 1 + i%3})
					if apperr.Code(err) == apperr.ESOLDOUT {
						continue
					}
					report(err)
					if err != nil {
						continue
					}
					created.Add(1)
					if i%2 == 0 {
						won, err := pay(ctx, f.db, res.Booking.ID)
						report(err)
						if !won {
							report(errors.New("a fresh booking could not be paid"))
						}
						paidMu.Lock()
						paid[res.Booking.ID] = true
						paidMu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		requireInvariant(t, f.db)

		// Every payment that won still holds its booking and seats.
		for id := range paid {
			require.Equal(t, "paid", status(t, f.db, id), "booking %d", id)
		}
		// Every old booking ended either paid or expired; the fresh ones
		// are paid or still pending.
		for _, b := range old {
			s := status(t, f.db, b.ID)
			if paid[b.ID] {
				require.Equal(t, "paid", s)
			} else {
				require.Equal(t, "expired", s, "booking %s", b.Code)
			}
		}
		var pending int
		require.NoError(t, f.db.QueryRow("SELECT COUNT(*) FROM bookings WHERE status = 'pending'").Scan(&pending))
		paidFresh := 0
		for id := range paid {
			if id > old[len(old)-1].ID {
				paidFresh++
			}
		}
		require.Equal(t, int(created.Load())-paidFresh, pending)

		// Idempotent afterwards too.
		res, err := x.Sweep(ctx)
		require.NoError(t, err)
		require.Zero(t, res.Expired)
		requireInvariant(t, f.db)
	})
}

func TestNewValidates(t *testing.T) {
	_, err := New(Deps{Expiry: time.Minute})
	require.ErrorContains(t, err, "no database")
	db := storetest.Open(t, store.SQLite)
	_, err = New(Deps{DB: db})
	require.ErrorContains(t, err, "must be positive")
}

func TestJobDefaults(t *testing.T) {
	o := ExpireUnpaidBookings{}.InsertOpts()
	require.Equal(t, "default", o.Queue)
	require.Equal(t, 1, o.Tries)
	require.Equal(t, 300*time.Second, o.Timeout)
	o = ExpireBooking{}.InsertOpts()
	require.Equal(t, "default", o.Queue)
	require.Equal(t, 3, o.Tries)
	require.Equal(t, 60*time.Second, o.Timeout)
	require.Equal(t, "ExpireUnpaidBookings", ExpireUnpaidBookings{}.Kind())
	require.Equal(t, "ExpireBooking", ExpireBooking{}.Kind())
}

// TestPaymentHoldingTheRow pins down the two interleavings with a payment
// in flight on MySQL and PostgreSQL (SQLite has one writer, so there is no
// interleaving): the sweep skips a booking whose row the payment holds, and
// ExpireBooking waits for the payment and then changes nothing.
func TestPaymentHoldingTheRow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		if d == store.SQLite {
			t.Skip("one writer: a payment and an expiry never overlap")
		}
		ctx := context.Background()
		f := newFixture(t, d)
		tour := f.tour(t, 10)
		held := f.book(t, f.old, tour, 2)
		other := f.book(t, f.old, tour, 1)
		x, err := New(Deps{DB: f.db, Expiry: holdFor})
		require.NoError(t, err)

		// The payment handler has locked the booking and not committed yet.
		payTx, err := f.db.BeginTx(ctx, nil)
		require.NoError(t, err)
		defer payTx.Rollback() // after a failure, so cleanup can drop the database
		res, err := payTx.ExecContext(ctx, f.db.Rebind(`UPDATE bookings SET status = 'paid', paid_at = ?, updated_at = ? WHERE id = ? AND status = 'pending'`), time.Now().UTC(), time.Now().UTC(), held.ID)
		require.NoError(t, err)
		n, _ := res.RowsAffected()
		require.Equal(t, int64(1), n)

		// The sweep skips the held booking. (On MariaDB it then waits for
		// the payment to commit before it can give seats back to the same
		// tour: the payment's status change share-locks the tour through
		// the foreign key.)
		type sweepOutcome struct {
			res *SweepResult
			err error
		}
		swept := make(chan sweepOutcome, 1)
		go func() {
			r, err := x.Sweep(ctx)
			swept <- sweepOutcome{r, err}
		}()
		var so sweepOutcome
		select {
		case so = <-swept:
		case <-time.After(500 * time.Millisecond):
		}

		// ExpireBooking waits for the row, then finds it paid.
		done := make(chan error, 1)
		var expired bool
		go func() {
			var err error
			expired, err = x.ExpireOne(ctx, held.ID)
			done <- err
		}()
		select {
		case err := <-done:
			t.Fatalf("ExpireOne did not wait for the payment: %v", err)
		case <-time.After(300 * time.Millisecond):
		}
		require.NoError(t, payTx.Commit())
		require.NoError(t, <-done)
		require.False(t, expired)
		if so.res == nil {
			so = <-swept
		}
		require.NoError(t, so.err)
		require.Equal(t, 1, so.res.Expired, "only the booking nobody held")
		require.Equal(t, "expired", status(t, f.db, other.ID))
		require.Equal(t, "paid", status(t, f.db, held.ID))
		require.Equal(t, 10-2, quota(t, f.db, tour.ID))
		requireInvariant(t, f.db)
	})
}
