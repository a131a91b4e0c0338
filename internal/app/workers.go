package app

import (
	"github.com/tripintravel/tripin/internal/expiry"
	"github.com/tripintravel/tripin/internal/faultbench"
	"github.com/tripintravel/tripin/internal/mail"
	"github.com/tripintravel/tripin/internal/notify"
	"github.com/tripintravel/tripin/internal/payment"
	"github.com/tripintravel/tripin/internal/retention"
	"github.com/tripintravel/tripin/queue"
)

// addWorkers registers every job kind of the application on ws, beside
// the built-in noop, sleep and fail: `serve`, `queue work` and the
// scheduler's client run them all, whatever process took the job.
func (a *App) addWorkers(ws *queue.Workers) error {
	cfg, db, logger := a.Config, a.DB, a.Logger
	// SendInvoiceEmail, SendETicketEmail.
	mail.AddWorkers(ws, a.Mail)
	// ExpireSnapTransaction: without a Midtrans server key (a worker
	// beside a local serve) its jobs fail at once instead of retrying.
	payment.AddWorkers(ws, a.Payments)
	// SendOpsNotifications, MonitorQueues: with no webhook configured the
	// send only marks leftover events skipped.
	notify.AddWorkers(ws, a.Notifier)
	// ExpireBooking, ExpireUnpaidBookings: the expired bookings' Snap
	// transactions are expired at Midtrans by jobs inserted in the same
	// transaction.
	if _, err := expiry.Register(ws, expiry.Deps{DB: db, Expiry: cfg.BookingExpiry(), Logger: logger,
		OnExpiredTx: ExpireSnapsOnExpiredTx(db, a.Queue)}); err != nil {
		return err
	}
	// PruneOldRecords, the hourly prune: whatever the queue connection,
	// the tables it prunes are in the database.
	if _, err := retention.Register(ws, retention.Params{DB: db, Retention: cfg.Retention, TokenTTL: cfg.AuthTokenTTL, Logger: logger}); err != nil {
		return err
	}
	// The fault bench's ledger jobs, so that `tripin bench faults` can
	// drive real `queue work` and `serve` processes.
	faultbench.AddWorkers(ws, db)
	return nil
}
