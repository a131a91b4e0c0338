package app

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/expiry"
	"github.com/tripintravel/tripin/internal/mail"
	"github.com/tripintravel/tripin/internal/payment"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/queue"
)

// ExpireSnapsOnExpiredTx returns the expiry hook that inserts, in the
// transaction that expires bookings, the jobs that expire their Snap
// transactions at Midtrans.
func ExpireSnapsOnExpiredTx(db *store.DB, q payment.JobInserter) func(ctx context.Context, tx *sql.Tx, done []expiry.Expired) error {
	return func(ctx context.Context, tx *sql.Tx, done []expiry.Expired) error {
		ids := make([]int64, len(done))
		for i, e := range done {
			ids[i] = e.ID
		}
		return payment.ExpireSnapsTx(ctx, tx, db, q, ids)
	}
}

// BookingJobsTx returns the booking hook that inserts, in the booking's own
// transaction and in one statement, the invoice email job and the job that
// expires the booking at its expires_at: both exist if and only if the
// booking does. The sync connection cannot delay a job, so there only the
// invoice is inserted (and sent inline) and the sweep expires the booking.
func BookingJobsTx(q *queue.Client) booking.TxHook {
	return func(ctx context.Context, tx *sql.Tx, b *booking.Booking) error {
		tags := b.JobTags()
		jobs := []queue.InsertManyParams{{Args: mail.SendInvoiceEmail{BookingID: b.ID}, Opts: &queue.InsertOpts{Tags: tags}}}
		if q.Connection() != queue.ConnectionSync {
			jobs = append(jobs, queue.InsertManyParams{
				Args: expiry.ExpireBooking{BookingID: b.ID}, Opts: &queue.InsertOpts{RunAt: b.ExpiresAt, Tags: tags},
			})
		}
		// A job run inline by the sync connection reads the booking
		// through this transaction (queue.Job.Tx).
		if _, err := q.InsertManyTx(ctx, tx, jobs); err != nil {
			return fmt.Errorf("booking %s: insert its jobs: %w", b.Code, err)
		}
		return nil
	}
}
