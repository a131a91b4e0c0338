package cli

import (
	"context"
	"database/sql"
	"log/slog"
	"time"

	"github.com/tripintravel/tripin/internal/app"
	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/expiry"
	"github.com/tripintravel/tripin/internal/mail"
	"github.com/tripintravel/tripin/internal/notify"
	"github.com/tripintravel/tripin/internal/payment"
	"github.com/tripintravel/tripin/internal/payment/midtrans/midtranstest"
	"github.com/tripintravel/tripin/internal/retention"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/throttle"
	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/dbdriver"
)

// The application's job workers (the invoice and e-ticket emails, the two
// booking expiry jobs and the hourly prune) are added to every queue client a command
// opens, so that `serve`, `queue work` and `schedule test` run every kind.
func init() { addQueueSetup(setupAppWorkers) }

func setupAppWorkers(ctx context.Context, env *Env, c *queue.Client) error {
	cfg, err := env.Config()
	if err != nil {
		return err
	}
	db, err := env.OpenDB(ctx)
	if err != nil {
		return err
	}
	logger, err := env.Logger(false)
	if err != nil {
		return err
	}
	// With a server key the e-ticket email links to a signed ticket page.
	var payments *payment.Service
	if cfg.MidtransServerKey != "" {
		if payments, err = payment.New(payment.Params{DB: db, Config: cfg, Logger: logger}); err != nil {
			return err
		}
	}
	sender, err := mail.NewSenderFromConfig(cfg, db, mailLoader(cfg, db, payments), logger)
	if err != nil {
		return err
	}
	mail.AddWorkers(c.Workers(), sender)
	// Without a server key (a worker beside a local serve) the jobs that
	// expire Snap transactions fail at once instead of retrying.
	payment.AddWorkers(c.Workers(), payments)
	// Every worker sends the notifications and runs the queue check; with
	// no webhook configured the send only marks leftover events skipped.
	notifier, err := notifierFor(ctx, env, c)
	if err != nil {
		return err
	}
	notify.AddWorkers(c.Workers(), notifier)
	if notifier.Enabled() {
		// Whatever publishes a queue-busy event in this process (a
		// `queue monitor` run, the dashboard) notifies too.
		env.onClose(queue.SubscribeQueueBusy(notifier.HandleQueueBusy))
	}
	if _, err := expiry.Register(c.Workers(), expiry.Deps{DB: db, Expiry: cfg.BookingExpiry(), Logger: logger,
		OnExpiredTx: app.ExpireSnapsOnExpiredTx(db, c)}); err != nil {
		return err
	}
	// The hourly prune: whatever the queue connection, the tables it
	// prunes are in the database.
	_, err = retention.Register(c.Workers(), retention.Params{DB: db, Retention: cfg.Retention, TokenTTL: cfg.AuthTokenTTL, Logger: logger})
	return err
}

// notifierFor returns the notifier that records into the command's
// database and dispatches its send job with c, creating it on first use,
// so that the failure observer, the workers and the payment hook of one
// client share it.
func notifierFor(ctx context.Context, env *Env, c *queue.Client) (*notify.Notifier, error) {
	env.mu.Lock()
	defer env.mu.Unlock()
	if n, ok := env.notifiers[c]; ok {
		return n, nil
	}
	cfg, err := env.Config()
	if err != nil {
		return nil, err
	}
	db, err := env.OpenDB(ctx)
	if err != nil {
		return nil, err
	}
	logger, err := env.Logger(false)
	if err != nil {
		return nil, err
	}
	n, err := notify.FromConfig(cfg, db, c, logger)
	if err != nil {
		return nil, err
	}
	if env.notifiers == nil {
		env.notifiers = map[*queue.Client]*notify.Notifier{}
	}
	env.notifiers[c] = n
	return n, nil
}

// bindFailureNotifier makes the queue observer failures report the jobs of
// c that fail for good, when a webhook is configured. The sync connection
// has no worker to observe.
func bindFailureNotifier(ctx context.Context, env *Env, c *queue.Client, failures *notify.JobObserver) error {
	cfg, err := env.Config()
	if err != nil {
		return err
	}
	if !cfg.NotificationsEnabled() || c.Connection() == queue.ConnectionSync {
		return nil
	}
	n, err := notifierFor(ctx, env, c)
	if err != nil {
		return err
	}
	failures.Bind(n)
	return nil
}

// mailLoader reads what an email shows of a booking. The payment link is
// the booking's Snap page once one exists; before that, the simulator page
// when the simulator is on, else the default link under APP_URL. The
// ticket link is signed by the payment service when there is one, so it
// opens from an email without a login.
func mailLoader(cfg *config.Config, db *store.DB, payments *payment.Service) mail.BookingLoader {
	return mail.BookingLoaderFunc(func(ctx context.Context, id int64) (*mail.BookingMail, error) {
		tx, _ := mail.TxFromContext(ctx)
		r, err := db.BookingMailData(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		m := &mail.BookingMail{
			BookingID: r.BookingID, Code: r.Code, Status: r.Status, CustomerName: r.CustomerName,
			CustomerEmail: r.CustomerEmail, TourTitle: r.TourTitle, TourDestination: r.TourDestination,
			DepartureDate: r.DepartureDate, Quantity: r.Quantity, UnitPrice: r.UnitPrice,
			TotalAmount: r.TotalAmount, CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt,
		}
		if r.PaidAt.Valid {
			m.PaidAt = r.PaidAt.Time
		}
		switch {
		case r.SnapRedirectURL.Valid && r.SnapRedirectURL.String != "":
			m.PaymentURL = r.SnapRedirectURL.String
		case cfg.SimulatorEnabled() && payments != nil:
			m.PaymentURL = payments.SimulatorURL(r.Code, r.ExpiresAt)
		}
		if payments != nil {
			m.TicketURL = payments.TicketURL(r.BookingID, r.DepartureDate)
		}
		return m, nil
	})
}

// services is the application wired together for `serve`.
type services struct {
	Queue    *queue.Client
	Bookings *booking.Service
	Accounts *booking.Accounts
	Payments *payment.Service
	// FakeMidtrans is the local stand-in for Midtrans when APP_ENV=local
	// runs without a server key; nil otherwise.
	FakeMidtrans *midtranstest.Server
	// Limiter counts logins and registrations for every web server: in
	// Redis with the redis queue connection, else in the database.
	Limiter throttle.Limiter
}

// buildServices wires the booking service (whose transaction also inserts
// the invoice email and the booking's own expiry job), the payment service
// (whose paid transaction inserts the e-ticket email) and the queue client
// they share.
func buildServices(ctx context.Context, env *Env, cfg *config.Config, db *store.DB, logger *slog.Logger) (*services, error) {
	s := &services{}
	if cfg.MidtransServerKey == "" {
		if cfg.AppEnv != "local" {
			return nil, &config.Error{Key: "MIDTRANS_SERVER_KEY", Reason: "is required unless APP_ENV=local"}
		}
		// Local development without Midtrans keys: a fake Midtrans on
		// loopback with a throwaway key, whose Snap pages lead to the
		// payment simulator.
		s.FakeMidtrans = midtranstest.StartLocal(cfg.AppURL)
		env.onClose(s.FakeMidtrans.Close)
		c := s.FakeMidtrans.Client()
		cfg.MidtransServerKey, cfg.MidtransSnapURL, cfg.MidtransAPIURL = c.ServerKey, c.SnapURL, c.APIURL
	}
	q, err := openQueue(ctx, env, queueOptions{Logger: logger, ServerWarnings: true})
	if err != nil {
		return nil, err
	}
	s.Queue = q
	notifier, err := notifierFor(ctx, env, q)
	if err != nil {
		return nil, err
	}
	s.Payments, err = payment.New(payment.Params{
		DB: db, Config: cfg, Logger: logger,
		// Rejected notifications are counted in the database, which
		// every server shares whatever the queue connection.
		Limiter: dbdriver.NewAdmin(db.DB),
		OnPaidTx: func(ctx context.Context, tx *sql.Tx, bookingID int64) error {
			return mail.DispatchETicketTx(ctx, q, tx, bookingID)
		},
		// The operators' notification is recorded in the transaction that
		// flags the booking needs_refund: both commit, or Midtrans sends
		// the payment again.
		OnLatePaymentTx: func(ctx context.Context, tx *sql.Tx, p payment.LatePayment) error {
			status := p.Status
			if p.Departed {
				// The message reads "arrived after it was expired and
				// its tour departed; refund needed".
				status += " and its tour departed"
			}
			late := notify.LatePayment{BookingID: p.BookingID, Code: p.Code, Amount: p.Amount, Status: status, TransactionID: p.TransactionID}
			return notifier.RecordTx(ctx, tx, late.Event())
		},
		OnLatePayment: func(ctx context.Context, p payment.LatePayment) {
			logger.Warn("payment arrived for a booking whose seats are gone; refund needed",
				slog.String("booking", p.Code), slog.Int64("amount", p.Amount),
				slog.String("status", p.Status), slog.Bool("departed", p.Departed), slog.String("transaction_id", p.TransactionID))
		},
	})
	if err != nil {
		return nil, err
	}
	if s.FakeMidtrans != nil {
		// The fake's Snap pages lead to the simulator, through a signed
		// link that lasts the booking's hold, when the simulator is on.
		var redirect func(orderID, token string) string
		if cfg.SimulatorEnabled() {
			redirect = func(orderID, _ string) string {
				return s.Payments.SimulatorURL(orderID, time.Now().Add(cfg.BookingExpiry()))
			}
		}
		s.FakeMidtrans.SetRedirectURL(redirect)
	}
	s.Bookings = booking.NewService(booking.ServiceParams{
		Store: db, Location: cfg.AppTimezone, Expiry: cfg.BookingExpiry(), MaxQuantity: cfg.BookingMaxQuantity,
		MaxPendingPerUser: cfg.BookingMaxPendingPerUser, RateLimit: cfg.BookingRateLimit,
		// Counted in the database, which every web server shares whatever
		// the queue connection.
		Limiter:    dbdriver.NewAdmin(db.DB),
		OnCreateTx: []booking.TxHook{app.BookingJobsTx(q)},
		// A cancelled booking's Snap transaction is expired at Midtrans.
		OnReleaseTx: []booking.TxHook{func(ctx context.Context, tx *sql.Tx, b *booking.Booking) error {
			return payment.ExpireSnapsTx(ctx, tx, db, q, []int64{b.ID})
		}},
	})
	s.Accounts = booking.NewAccounts(booking.AccountsParams{Store: db, TokenTTL: cfg.AuthTokenTTL})
	s.Limiter = dbdriver.NewAdmin(db.DB)
	if a, ok := q.Driver().(driver.Admin); ok && cfg.QueueConnection == "redis" {
		s.Limiter = a
	}
	return s, nil
}

// workerQueues are the queues the worker embedded in `serve` takes, in
// priority order. The notifications queue comes first: its jobs are rare
// and short, and an alert about a backlog must not wait behind it.
var workerQueues = []string{notify.Queue, "default", "emails"}
