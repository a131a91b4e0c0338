package payment

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/queue"
)

// ExpireSnapTransaction is the job that ends, at Midtrans, the Snap
// transaction of a booking that was cancelled or expired, so that the
// customer can no longer pay into a booking that gave its seats away. It
// is inserted in the transaction that releases the booking (ExpireSnapsTx)
// and retried for hours: Midtrans being down must not leave a payable
// page behind. A payment that still slips through is a late payment.
type ExpireSnapTransaction struct {
	BookingID int64  `json:"booking_id"`
	OrderID   string `json:"order_id"`
}

// Kind names the job.
func (ExpireSnapTransaction) Kind() string { return "ExpireSnapTransaction" }

// Tags tag the job with its booking, by id and by code (the order id).
func (a ExpireSnapTransaction) Tags() []string {
	return []string{booking.JobTag(a.BookingID), "booking:" + a.OrderID}
}

// InsertOpts are the job's defaults: queue default, ten tries over about
// four hours, one minute each.
func (ExpireSnapTransaction) InsertOpts() queue.InsertOpts {
	return queue.InsertOpts{
		Queue: "default", Tries: 10, Timeout: time.Minute,
		Backoff: []time.Duration{30 * time.Second, time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour},
	}
}

// JobInserter inserts jobs inside the caller's transaction; *queue.Client
// is one.
type JobInserter interface {
	InsertManyTx(ctx context.Context, tx *sql.Tx, params []queue.InsertManyParams) ([]queue.InsertResult, error)
	Connection() string
}

// ExpireSnapsTx inserts, inside tx, an ExpireSnapTransaction job for each
// of the bookings that may have a Snap transaction: those with a stored
// Snap token, or a claim on creating one (the call to Midtrans may have
// succeeded without its answer being stored). The others were never
// payable at Midtrans and cost nothing. Call it in the transaction that
// cancels or expires the bookings, so that the jobs exist if and only if
// the bookings were released.
//
// On the sync connection it inserts nothing: a sync job runs inline, and
// a call to Midtrans inside the booking's transaction would hold it (and
// on SQLite the only writer) for as long as Midtrans takes, and roll the
// cancellation back when Midtrans is down. There Midtrans' own expiry of
// the Snap transaction, set to the booking's hold, is what remains.
func ExpireSnapsTx(ctx context.Context, tx *sql.Tx, db *store.DB, q JobInserter, bookingIDs []int64) error {
	if len(bookingIDs) == 0 || q.Connection() == queue.ConnectionSync {
		return nil
	}
	orders, err := db.BookingSnapOrdersTx(ctx, tx, bookingIDs)
	if err != nil {
		return fmt.Errorf("payment: %w", err)
	}
	var jobs []queue.InsertManyParams
	for _, o := range orders {
		j := ExpireSnapTransaction{BookingID: o.BookingID, OrderID: o.Code}
		jobs = append(jobs, queue.InsertManyParams{Args: j, Opts: &queue.InsertOpts{UniqueKey: fmt.Sprintf("expire-snap:%d", j.BookingID)}})
	}
	if len(jobs) == 0 {
		return nil
	}
	if _, err := q.InsertManyTx(ctx, tx, jobs); err != nil {
		return fmt.Errorf("payment: insert ExpireSnapTransaction: %w", err)
	}
	return nil
}

// errNoClient is the permanent failure of an ExpireSnapTransaction job
// taken by a process that has no Midtrans server key.
var errNoClient = errors.New("payment: this process has no MIDTRANS_SERVER_KEY to expire Snap transactions with")

// AddWorkers adds the worker of ExpireSnapTransaction to ws. s may be nil
// in a process without a Midtrans server key: its jobs then fail at once
// (and operators hear of them) rather than retrying for hours.
func AddWorkers(ws *queue.Workers, s *Service) {
	queue.AddWorker(ws, queue.WorkFunc(func(ctx context.Context, job *queue.Job[ExpireSnapTransaction]) error {
		if s == nil {
			return queue.Permanent(errNoClient)
		}
		if err := s.ExpireSnap(ctx, job.Args.OrderID); err != nil {
			return err
		}
		s.log.InfoContext(ctx, "payment: Snap transaction expired at Midtrans", "booking_id", job.Args.BookingID, "order_id", job.Args.OrderID)
		return nil
	}))
}
