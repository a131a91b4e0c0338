// Package expiry gives the seats of unpaid bookings back. Two jobs do it:
// ExpireBooking, inserted with the booking in its transaction and delayed
// to the booking's expires_at, expires one booking on time; the
// ExpireUnpaidBookings sweep, scheduled every five minutes, is the safety
// net that expires every pending booking older than BOOKING_EXPIRY_MINUTES
// in bounded chunks. Both are idempotent and safe against a payment that
// arrives at the same moment: each booking moves with a conditional update
// on status = 'pending' under its row lock, so whichever of the payment and
// the expiry commits first wins and the other changes nothing.
package expiry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tripintravel/tripin/internal/apperr"
	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/queue"
)

// DefaultChunkSize is how many bookings one sweep transaction expires: big
// enough that 100,000 bookings take 200 transactions, small enough that
// each holds its row locks for milliseconds.
const DefaultChunkSize = 500

// ExpireUnpaidBookings is the sweep job: every pending booking created at
// least BOOKING_EXPIRY_MINUTES ago becomes expired and its seats return.
type ExpireUnpaidBookings struct{}

// Kind names the job.
func (ExpireUnpaidBookings) Kind() string { return "ExpireUnpaidBookings" }

// InsertOpts are the job's defaults (SPEC §5): queue default, one try,
// 300 seconds.
func (ExpireUnpaidBookings) InsertOpts() queue.InsertOpts {
	return queue.InsertOpts{Queue: "default", Tries: 1, Timeout: 300 * time.Second}
}

// ExpireBooking expires one booking when its hold ends, if it is still
// pending then.
type ExpireBooking struct {
	BookingID int64 `json:"booking_id"`
}

// Kind names the job.
func (ExpireBooking) Kind() string { return "ExpireBooking" }

// Tags tag the job with its booking.
func (a ExpireBooking) Tags() []string { return []string{booking.JobTag(a.BookingID)} }

// InsertOpts are the job's defaults (SPEC §5): queue default, three tries,
// 60 seconds.
func (ExpireBooking) InsertOpts() queue.InsertOpts {
	return queue.InsertOpts{Queue: "default", Tries: 3, Timeout: 60 * time.Second}
}

// Deps is what the expiry jobs need.
type Deps struct {
	DB *store.DB
	// Expiry is BOOKING_EXPIRY_MINUTES: the sweep expires pending bookings
	// created at least this long ago.
	Expiry time.Duration
	// OnExpiredTx, when set, runs inside each transaction that expired
	// bookings (each chunk is expired with one set-based update), with the
	// bookings it expired: the Snap transactions of those bookings are expired at
	// Midtrans by jobs it inserts (payment.ExpireSnapsTx), so that they
	// exist if and only if the bookings were expired. An error rolls the
	// transaction back.
	OnExpiredTx func(ctx context.Context, tx *sql.Tx, expired []Expired) error
	// ChunkSize bounds the bookings per transaction (DefaultChunkSize).
	ChunkSize int
	Logger    *slog.Logger
	// Now overrides the database clock (tests).
	Now func() time.Time
}

// Expirer expires bookings: the work behind both jobs and `tripin bookings
// expire`.
type Expirer struct {
	db     *store.DB
	expiry time.Duration
	onTx   func(ctx context.Context, tx *sql.Tx, expired []Expired) error
	chunk  int
	log    *slog.Logger
	now    func() time.Time
}

// New checks deps and returns an Expirer.
func New(deps Deps) (*Expirer, error) {
	if deps.DB == nil {
		return nil, errors.New("expiry: no database")
	}
	if deps.Expiry <= 0 {
		return nil, fmt.Errorf("expiry: expiry %s must be positive", deps.Expiry)
	}
	x := &Expirer{db: deps.DB, expiry: deps.Expiry, onTx: deps.OnExpiredTx, chunk: deps.ChunkSize, log: deps.Logger, now: deps.Now}
	if x.chunk <= 0 {
		x.chunk = DefaultChunkSize
	}
	if x.log == nil {
		x.log = slog.New(slog.DiscardHandler)
	}
	return x, nil
}

// Register adds the workers of ExpireUnpaidBookings and ExpireBooking to
// ws and returns the Expirer behind them.
func Register(ws *queue.Workers, deps Deps) (*Expirer, error) {
	x, err := New(deps)
	if err != nil {
		return nil, err
	}
	queue.AddWorker(ws, queue.WorkFunc(func(ctx context.Context, job *queue.Job[ExpireUnpaidBookings]) error {
		_, err := x.Sweep(ctx)
		return err
	}))
	queue.AddWorker(ws, queue.WorkFunc(func(ctx context.Context, job *queue.Job[ExpireBooking]) error {
		_, err := x.ExpireOne(ctx, job.Args.BookingID)
		var early *NotDueError
		if errors.As(err, &early) {
			// Delayed by a clock running ahead of the database's: come
			// back when the hold has really ended, without using a try.
			return queue.Snooze(early.Remaining + time.Second)
		}
		if apperr.Code(err) == apperr.ENOTFOUND {
			return queue.Permanent(err)
		}
		return err
	}))
	return x, nil
}

// TxInserter inserts a job inside a transaction; *queue.Client is one.
type TxInserter interface {
	InsertTx(ctx context.Context, tx *sql.Tx, args queue.JobArgs, opts *queue.InsertOpts) (*queue.InsertResult, error)
}

// OnCreateTx returns a booking.TxHook that inserts a booking's ExpireBooking
// job, due at its expires_at, in the transaction that creates the booking:
// the job exists if and only if the booking does. On the sync connection
// (a client whose Connection() is "sync") it inserts nothing: a sync queue
// cannot delay a job, and running it inside the booking's transaction would
// wait forever for SQLite's one writer connection; the sweep expires those
// bookings instead.
func OnCreateTx(q TxInserter) booking.TxHook {
	if c, ok := q.(interface{ Connection() string }); ok && c.Connection() == queue.ConnectionSync {
		return func(context.Context, *sql.Tx, *booking.Booking) error { return nil }
	}
	return func(ctx context.Context, tx *sql.Tx, b *booking.Booking) error {
		_, err := q.InsertTx(ctx, tx, ExpireBooking{BookingID: b.ID}, &queue.InsertOpts{RunAt: b.ExpiresAt, Tags: b.JobTags()})
		if err != nil {
			return fmt.Errorf("expiry: insert ExpireBooking for %s: %w", b.Code, err)
		}
		return nil
	}
}

// Expired is one booking an expiry released.
type Expired struct {
	ID            int64  `json:"id"`
	Code          string `json:"code"`
	TourID        int64  `json:"tour_id"`
	SeatsReturned int    `json:"seats_returned"`
}

// SweepResult reports a sweep.
type SweepResult struct {
	// Cutoff is the creation time at or before which pending bookings were
	// due, by the database clock.
	Cutoff        time.Time `json:"cutoff"`
	Expired       int       `json:"expired"`
	SeatsReturned int       `json:"seats_returned"`
	// Tours maps each tour that got seats back to how many.
	Tours        map[int64]int `json:"tours"`
	Transactions int           `json:"transactions"`
	Duration     time.Duration `json:"duration_ns"`
}

func (x *Expirer) clock(ctx context.Context) (time.Time, error) {
	if x.now != nil {
		return x.now().UTC(), nil
	}
	t, err := x.db.Now(ctx)
	if err != nil {
		return time.Time{}, fmt.Errorf("expiry: %w", err)
	}
	return t, nil
}

// Sweep expires every pending booking created at least the expiry ago, in
// transactions of at most ChunkSize bookings each, and logs every booking
// it expires. Bookings locked by a concurrent transaction at that moment
// are left for the next sweep (or their own ExpireBooking job). A failure
// stops the sweep; the chunks committed before it stay committed.
func (x *Expirer) Sweep(ctx context.Context) (*SweepResult, error) {
	start := time.Now()
	now, err := x.clock(ctx)
	if err != nil {
		return nil, err
	}
	res := &SweepResult{Cutoff: now.Add(-x.expiry), Tours: map[int64]int{}}
	x.log.Info("expiry: sweep started", "cutoff", res.Cutoff, "chunk_size", x.chunk)
	var cursor store.ExpiryCursor
	for {
		var (
			done    []Expired
			nLocked int
			last    store.ExpiryCursor
		)
		err := x.db.InTx(ctx, func(tx *sql.Tx) error {
			due, err := x.db.ExpiryLockDueTx(ctx, tx, res.Cutoff, cursor, x.chunk)
			if err != nil {
				return err
			}
			nLocked = len(due)
			if nLocked > 0 {
				last = store.ExpiryCursor{CreatedAt: due[nLocked-1].CreatedAt, ID: due[nLocked-1].ID}
			}
			done, err = x.expireTx(ctx, tx, due, now)
			return err
		})
		if err != nil {
			return res, fmt.Errorf("expiry: sweep: %w", err)
		}
		res.Transactions++
		for _, e := range done {
			res.Expired++
			res.SeatsReturned += e.SeatsReturned
			res.Tours[e.TourID] += e.SeatsReturned
			x.log.Info("expiry: booking expired", "code", e.Code, "booking_id", e.ID, "tour_id", e.TourID, "seats_returned", e.SeatsReturned, "by", "sweep")
		}
		// A short chunk means no more due bookings that nobody else holds.
		if nLocked < x.chunk {
			break
		}
		cursor = last
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("expiry: sweep: %w", err)
		}
	}
	res.Duration = time.Since(start)
	x.log.Info("expiry: sweep finished", "expired", res.Expired, "seats_returned", res.SeatsReturned,
		"tours", len(res.Tours), "transactions", res.Transactions, "duration", res.Duration)
	return res, nil
}

// expireTx expires locked candidates, runs OnExpiredTx on them, and
// returns those it expired.
func (x *Expirer) expireTx(ctx context.Context, tx *sql.Tx, due []store.ExpiryCandidate, now time.Time) ([]Expired, error) {
	out, err := x.releaseTx(ctx, tx, due, now)
	if err != nil || x.onTx == nil || len(out) == 0 {
		return out, err
	}
	if err := x.onTx(ctx, tx, out); err != nil {
		return nil, fmt.Errorf("expiry: on expired: %w", err)
	}
	return out, nil
}

func (x *Expirer) releaseTx(ctx context.Context, tx *sql.Tx, due []store.ExpiryCandidate, now time.Time) ([]Expired, error) {
	if err := x.db.ExpiryExpireTx(ctx, tx, due, now); err != nil {
		return nil, err
	}
	out := make([]Expired, 0, len(due))
	for _, c := range due {
		out = append(out, Expired{ID: c.ID, Code: c.Code, TourID: c.TourID, SeatsReturned: c.Quantity})
	}
	return out, nil
}

// NotDueError reports a booking whose hold has not ended yet.
type NotDueError struct {
	Code      string
	Remaining time.Duration
}

func (e *NotDueError) Error() string {
	return fmt.Sprintf("expiry: booking %s holds its seats for another %s", e.Code, e.Remaining.Round(time.Millisecond))
}

// ExpireOne expires one booking if it is still pending and its expires_at
// has passed (by the database clock). It reports whether it expired it: a
// booking already paid, cancelled or expired is left alone, and one whose
// hold has not ended yet fails with *NotDueError.
func (x *Expirer) ExpireOne(ctx context.Context, id int64) (bool, error) {
	now, err := x.clock(ctx)
	if err != nil {
		return false, err
	}
	var (
		c       store.ExpiryCandidate
		status  string
		expired bool
	)
	err = x.db.InTx(ctx, func(tx *sql.Tx) error {
		expired = false
		c, status, err = x.db.ExpiryLockTx(ctx, tx, id)
		if err != nil || status != string(booking.StatusPending) {
			return err
		}
		if c.ExpiresAt.After(now) {
			return &NotDueError{Code: c.Code, Remaining: c.ExpiresAt.Sub(now)}
		}
		done, err := x.expireTx(ctx, tx, []store.ExpiryCandidate{c}, now)
		expired = len(done) == 1
		return err
	})
	if err != nil {
		var nd *NotDueError
		if errors.As(err, &nd) {
			return false, err
		}
		return false, fmt.Errorf("expiry: expire booking %d: %w", id, err)
	}
	if expired {
		x.log.Info("expiry: booking expired", "code", c.Code, "booking_id", c.ID, "tour_id", c.TourID, "seats_returned", c.Quantity, "by", "ExpireBooking")
	} else {
		x.log.Debug("expiry: booking left alone", "code", c.Code, "booking_id", c.ID, "status", status)
	}
	return expired, nil
}
