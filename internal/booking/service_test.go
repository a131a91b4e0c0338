package booking

import (
	"context"
	"database/sql"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/apperr"
)

// fakeStore implements Store in memory for the service's own logic; the
// SQL is tested against real databases in internal/store.
type fakeStore struct {
	Store
	price     int64
	codeClash int // BookingInsertTx fails with ECONFLICT this many times
	inserted  []*Booking
	idem      map[string]*IdempotencyRecord
	idemRace  bool                    // IdempotencyInsertTx reports a concurrent insert
	soldOut   func(tourID int64) bool // the seat statement finds too few seats
	left      func(tourID int64) int  // seats left, as the plain read sees them
	reads     atomic.Int32            // plain reads of a tour's seats
	events    []string                // "hook", "write" (booking and seats), in order
	// priceChanges is how many times the seat statement finds a new price.
	priceChanges int
	committed    int
	rolledBack   int
	dbNow        time.Time // the database clock BookingCreateTx sets the times by
}

func (f *fakeStore) InTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if err := fn(nil); err != nil {
		f.rolledBack++
		return err
	}
	f.committed++
	return nil
}

// TourSeatsGet answers the plain read before the transaction: plenty of
// seats at f.price, unless left says otherwise.
func (f *fakeStore) TourSeatsGet(ctx context.Context, tourID int64) (*TourSeats, error) {
	f.reads.Add(1)
	t := &TourSeats{Quota: 1000, Price: f.price, DepartureDate: "2099-01-01"}
	if f.left != nil {
		t.Quota = f.left(tourID)
	}
	return t, nil
}

// BookingCreateTx draws the ID and times, runs then, and writes the
// booking and takes the seats last, as the PostgreSQL store does. soldOut
// says the seat statement found too few (another booking took them after
// the plain read); priceChanges that it found a new price.
func (f *fakeStore) BookingCreateTx(ctx context.Context, tx *sql.Tx, b *Booking, after string, hold time.Duration, then func() error) error {
	b.ID = int64(len(f.inserted) + 1)
	// The store's clock (the database's) is not the service's.
	b.CreatedAt = f.dbNow
	b.UpdatedAt, b.ExpiresAt = b.CreatedAt, b.CreatedAt.Add(hold)
	if then != nil {
		if err := then(); err != nil {
			return err
		}
	}
	if f.soldOut != nil && f.soldOut(b.TourID) {
		return apperr.Errorf(apperr.ESOLDOUT, "sold out")
	}
	if f.priceChanges > 0 {
		f.priceChanges--
		f.price++
		return &apperr.Error{Code: apperr.ECONFLICT, Message: "price changed", Err: ErrPriceChanged}
	}
	if err := f.BookingInsertTx(ctx, tx, b); err != nil {
		return err
	}
	f.events = append(f.events, "write")
	return nil
}

func (f *fakeStore) BookingInsertTx(ctx context.Context, tx *sql.Tx, b *Booking) error {
	if f.codeClash > 0 {
		f.codeClash--
		return apperr.Errorf(apperr.ECONFLICT, "code taken")
	}
	b.ID = int64(len(f.inserted) + 1)
	f.inserted = append(f.inserted, b)
	return nil
}

func (f *fakeStore) IdempotencyGet(ctx context.Context, userID int64, key string) (*IdempotencyRecord, error) {
	if r, ok := f.idem[key]; ok {
		return r, nil
	}
	return nil, apperr.Errorf(apperr.ENOTFOUND, "no key")
}

func (f *fakeStore) IdempotencyInsertTx(ctx context.Context, tx *sql.Tx, r *IdempotencyRecord) error {
	if f.idemRace {
		// Another request stored the key first with its own booking.
		body, _ := json.Marshal(&Booking{ID: 99, Code: "TRP-20261127-RACE22", Status: StatusPending})
		f.idem[r.Key] = &IdempotencyRecord{Key: r.Key, RequestHash: r.RequestHash, StatusCode: 201, Body: body}
		return apperr.Errorf(apperr.ECONFLICT, "taken")
	}
	f.idem[r.Key] = r
	return nil
}

func newFakeService(f *fakeStore, hooks ...TxHook) *Service {
	now := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
	return NewService(ServiceParams{Store: f, Now: func() time.Time { return now }, Expiry: 30 * time.Minute, MaxQuantity: 4, OnCreateTx: hooks})
}

func TestBookValidation(t *testing.T) {
	svc := newFakeService(&fakeStore{})
	for _, p := range []BookParams{
		{TourID: 1, Quantity: 0}, {TourID: 1, Quantity: 5}, {TourID: 0, Quantity: 1}, {TourID: -3, Quantity: 1},
	} {
		_, err := svc.Book(context.Background(), p)
		require.Equal(t, apperr.EINVALID, apperr.Code(err), "%+v", p)
	}
}

func TestBookRunsHooksAndRetriesCodeClash(t *testing.T) {
	// The database's clock is two minutes behind the service's (the web
	// server's): the booking's times follow the database.
	dbNow := time.Date(2026, 11, 27, 2, 58, 0, 0, time.UTC)
	f := &fakeStore{price: 750_000, codeClash: 2, idem: map[string]*IdempotencyRecord{}, dbNow: dbNow}
	var hooked []*Booking
	svc := newFakeService(f, func(ctx context.Context, tx *sql.Tx, b *Booking) error {
		hooked = append(hooked, b)
		return nil
	})
	res, err := svc.Book(context.Background(), BookParams{UserID: 7, TourID: 3, Quantity: 2})
	require.NoError(t, err)
	b := res.Booking
	require.Equal(t, int64(1_500_000), b.TotalAmount)
	require.Equal(t, StatusPending, b.Status)
	require.Equal(t, dbNow, b.CreatedAt)
	require.Equal(t, dbNow.Add(30*time.Minute), b.ExpiresAt, "expires_at is the database clock plus BOOKING_EXPIRY_MINUTES")
	require.Equal(t, 2, f.rolledBack, "two clashing codes rolled back")
	// The hooks run before the write that found the code taken (as on
	// PostgreSQL), so they ran in each attempt; the clashing two rolled
	// back with their transactions.
	require.Len(t, hooked, 3)
	require.Same(t, b, hooked[2], "the hook saw the booking, with its ID")
	require.NotZero(t, hooked[2].ID)

	// A failing hook rolls the booking back.
	f2 := &fakeStore{idem: map[string]*IdempotencyRecord{}}
	svc = newFakeService(f2, func(ctx context.Context, tx *sql.Tx, b *Booking) error { return sql.ErrConnDone })
	_, err = svc.Book(context.Background(), BookParams{UserID: 7, TourID: 3, Quantity: 1})
	require.ErrorIs(t, err, sql.ErrConnDone)
	require.Equal(t, 0, f2.committed)
}

func TestBookIdempotency(t *testing.T) {
	f := &fakeStore{price: 100, idem: map[string]*IdempotencyRecord{}}
	svc := newFakeService(f)
	p := BookParams{UserID: 1, TourID: 2, Quantity: 1, IdempotencyKey: "k", RequestHash: "h1"}
	first, err := svc.Book(context.Background(), p)
	require.NoError(t, err)
	require.False(t, first.Replayed)
	again, err := svc.Book(context.Background(), p)
	require.NoError(t, err)
	require.True(t, again.Replayed)
	require.Equal(t, first.Booking.Code, again.Booking.Code)
	require.Len(t, f.inserted, 1)

	p.RequestHash = "h2"
	_, err = svc.Book(context.Background(), p)
	require.Equal(t, apperr.EINVALID, apperr.Code(err))

	// Losing the race to a concurrent request replays its booking.
	f.idemRace = true
	res, err := svc.Book(context.Background(), BookParams{UserID: 1, TourID: 2, Quantity: 1, IdempotencyKey: "race", RequestHash: "h"})
	require.NoError(t, err)
	require.True(t, res.Replayed)
	require.Equal(t, int64(99), res.Booking.ID)
}

func TestTourValidation(t *testing.T) {
	svc := newFakeService(&fakeStore{})
	s := func(v string) *string { return &v }
	i := func(v int) *int { return &v }
	p := func(v int64) *int64 { return &v }
	cases := []struct {
		name   string
		c      TourChanges
		create bool
		fields []string
	}{
		{"empty create", TourChanges{}, true, []string{"title", "destination", "departure_date", "price", "capacity"}},
		{"empty update", TourChanges{}, false, nil},
		{"blank title", TourChanges{Title: s("  ")}, false, []string{"title"}},
		{"bad date", TourChanges{DepartureDate: s("27/11/2026")}, false, []string{"departure_date"}},
		{"today on create", TourChanges{Title: s("t"), Destination: s("d"), DepartureDate: s("2026-11-27"), Price: p(1), Capacity: i(1)}, true, []string{"departure_date"}},
		{"past on update is allowed", TourChanges{DepartureDate: s("2026-11-01")}, false, nil},
		{"negative price", TourChanges{Price: p(-1)}, false, []string{"price"}},
		{"zero price on create", TourChanges{Title: s("t"), Destination: s("d"), DepartureDate: s("2026-12-27"), Price: p(0), Capacity: i(1)}, true, []string{"price"}},
		{"zero price on update", TourChanges{Price: p(0)}, false, []string{"price"}},
		{"one rupiah", TourChanges{Title: s("t"), Destination: s("d"), DepartureDate: s("2026-12-27"), Price: p(1), Capacity: i(1)}, true, nil},
		{"zero capacity", TourChanges{Capacity: i(0)}, false, []string{"capacity"}},
		{"huge capacity", TourChanges{Capacity: i(MaxTourCapacity + 1)}, false, []string{"capacity"}},
		{"long title", TourChanges{Title: s(string(make([]byte, 256)))}, false, []string{"title"}},
	}
	for _, c := range cases {
		got := svc.validateTour(c.c, c.create)
		var names []string
		for k := range got {
			names = append(names, k)
		}
		require.ElementsMatch(t, c.fields, names, c.name)
	}
}

func TestValidateNewUser(t *testing.T) {
	require.NoError(t, ValidateNewUser(NewUser{Name: "Ayu", Email: "ayu@example.co.id", Password: "12345678"}))
	for _, u := range []NewUser{
		{Name: "", Email: "a@b.co", Password: "12345678"},
		{Name: "A", Email: "not-an-email", Password: "12345678"},
		{Name: "A", Email: "Ayu <ayu@example.com>", Password: "12345678"},
		{Name: "A", Email: "a@b.co", Password: "1234567"},
		{Name: "A", Email: "a@b.co", Password: string(make([]byte, 73))},
	} {
		require.Equal(t, apperr.EINVALID, apperr.Code(ValidateNewUser(u)), "%+v", u)
	}
}

func TestTokens(t *testing.T) {
	a, b := NewToken(), NewToken()
	require.NotEqual(t, a, b)
	require.True(t, validTokenShape(a))
	require.Len(t, HashToken(a), 64)
	require.NotEqual(t, HashToken(a), HashToken(b))
	require.False(t, validTokenShape("trp_short"))
}

// groupStore is a fakeStore that asks for group commit and counts
// savepoints.
type groupStore struct {
	*fakeStore
	mu         sync.Mutex
	savepoints int
	rollbacks  int
}

func (g *groupStore) GroupCommit() bool { return true }

func (g *groupStore) InTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	time.Sleep(2 * time.Millisecond) // a commit takes a while, so requests queue up
	return g.fakeStore.InTx(ctx, fn)
}

func (g *groupStore) SavepointTx(ctx context.Context, tx *sql.Tx, fn func() error) error {
	g.savepoints++
	if err := fn(); err != nil {
		g.rollbacks++
		return err
	}
	return nil
}

func TestGroupCommit(t *testing.T) {
	g := &groupStore{fakeStore: &fakeStore{price: 100, idem: map[string]*IdempotencyRecord{},
		soldOut: func(id int64) bool { return id == 2 }}}
	svc := NewService(ServiceParams{Store: g, Expiry: time.Minute, MaxQuantity: 4})
	require.NotNil(t, svc.batch)
	const n = 60
	errs := make([]error, n)
	got := make([]*Booking, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := svc.Book(context.Background(), BookParams{UserID: int64(i + 1), TourID: int64(i%2 + 1), Quantity: 1})
			errs[i] = err
			if err == nil {
				got[i] = res.Booking
			}
		}()
	}
	wg.Wait()
	for i := 0; i < n; i++ {
		if i%2 == 1 {
			require.Equal(t, apperr.ESOLDOUT, apperr.Code(errs[i]), i)
			continue
		}
		require.NoError(t, errs[i], i)
		require.Equal(t, int64(i+1), got[i].UserID, "each request gets its own booking")
	}
	require.Len(t, g.inserted, n/2)
	require.Equal(t, n, g.savepoints)
	require.Equal(t, n/2, g.rollbacks)
	require.Less(t, g.committed, n/2, "bookings were grouped into fewer transactions")
}

func TestBookRefusesSoldOutWithoutATransaction(t *testing.T) {
	f := &fakeStore{price: 100, idem: map[string]*IdempotencyRecord{}, left: func(int64) int { return 1 }}
	svc := newFakeService(f)
	_, err := svc.Book(context.Background(), BookParams{UserID: 1, TourID: 2, Quantity: 2})
	require.Equal(t, apperr.ESOLDOUT, apperr.Code(err))
	require.Contains(t, err.Error(), "Only 1 seat(s) left")
	f.left = func(int64) int { return 0 }
	_, err = svc.Book(context.Background(), BookParams{UserID: 1, TourID: 2, Quantity: 1})
	require.Equal(t, apperr.ESOLDOUT, apperr.Code(err))
	require.Contains(t, err.Error(), "sold out")
	require.Zero(t, f.committed+f.rolledBack, "no transaction was opened")
	require.Empty(t, f.inserted)
}

func TestBookRunsHooksBeforeTheSeats(t *testing.T) {
	for _, last := range []bool{false, true} {
		f := &fakeStore{price: 100, idem: map[string]*IdempotencyRecord{}}
		svc := NewService(ServiceParams{Store: f, HooksAfterInsert: last, OnCreateTx: []TxHook{
			func(ctx context.Context, tx *sql.Tx, b *Booking) error {
				require.NotZero(t, b.ID, "the hook sees the booking's ID")
				f.events = append(f.events, "hook")
				return nil
			},
		}})
		_, err := svc.Book(context.Background(), BookParams{UserID: 1, TourID: 2, Quantity: 1})
		require.NoError(t, err)
		want := []string{"hook", "write"}
		if last {
			want = []string{"write", "hook"}
		}
		require.Equal(t, want, f.events, "HooksAfterInsert %v", last)
	}
}

func TestBookRetriesAChangedPrice(t *testing.T) {
	f := &fakeStore{price: 100, priceChanges: 1, idem: map[string]*IdempotencyRecord{}}
	svc := newFakeService(f)
	res, err := svc.Book(context.Background(), BookParams{UserID: 1, TourID: 2, Quantity: 3})
	require.NoError(t, err)
	require.Equal(t, int64(101), res.Booking.UnitPrice, "booked at the price read again")
	require.Equal(t, int64(303), res.Booking.TotalAmount)
	require.Equal(t, int32(2), f.reads.Load())
	require.Equal(t, 1, f.rolledBack)

	// A price that keeps changing ends in the conflict.
	f.priceChanges = codeAttempts
	_, err = svc.Book(context.Background(), BookParams{UserID: 1, TourID: 2, Quantity: 1})
	require.Equal(t, apperr.ECONFLICT, apperr.Code(err))
	require.ErrorIs(t, err, ErrPriceChanged)
}
