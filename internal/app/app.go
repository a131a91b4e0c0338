package app

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/mail"
	"github.com/tripintravel/tripin/internal/notify"
	"github.com/tripintravel/tripin/internal/payment"
	"github.com/tripintravel/tripin/internal/payment/midtrans/midtranstest"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/telemetry"
	"github.com/tripintravel/tripin/internal/throttle"
	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/dbdriver"
)

// App is Tripin wired together. New builds every part once, in order;
// Close releases them in the reverse order.
type App struct {
	Config *config.Config
	Logger *slog.Logger
	// DB is the application's database. Every part shares its pool (on
	// SQLite: its one writer connection).
	DB *store.DB
	// Metrics is the Prometheus registry the workers feed and /metrics
	// serves.
	Metrics *telemetry.Metrics

	// Queue is the client of the configured queue connection. Its
	// workers run every job kind of the application (see addWorkers).
	Queue *queue.Client
	// QueueDriver is the storage of the queue connection without the
	// queue's operations hooks: the database's driver, or the Redis one.
	// It is nil on the sync connection.
	QueueDriver driver.Driver
	// Notifier records operators' notifications and sends them to Slack
	// and Discord.
	Notifier *notify.Notifier

	// Bookings and Accounts are the booking and account services.
	Bookings *booking.Service
	Accounts *booking.Accounts
	// Payments takes payments through Midtrans. It is nil without a
	// Midtrans server key (a worker beside a local serve): the jobs that
	// expire Snap transactions then fail at once instead of retrying.
	Payments *payment.Service
	// FakeMidtrans is the local stand-in for Midtrans that New starts, with
	// Options.Web, in APP_ENV=local without a server key; nil otherwise.
	FakeMidtrans *midtranstest.Server
	// Mail delivers the invoice and e-ticket emails.
	Mail *mail.Sender
	// Limiter counts logins and registrations for every web server: in
	// Redis on the redis queue connection, else in the database.
	Limiter throttle.Limiter

	closers []func()
}

// Options tune what New builds.
type Options struct {
	// Logger receives every part's logs; nil discards them.
	Logger *slog.Logger
	// Stderr, when set, also shows the queue server's start-up warnings
	// (a Redis that keeps nothing on disk): the processes that hold jobs
	// print them at start.
	Stderr io.Writer
	// DB, when set, is the open database to use instead of opening the
	// configured one; the caller closes it, after Close.
	DB *store.DB
	// PrepareDB runs once the database is open, before any part reads it
	// (serve migrates a local SQLite database there).
	PrepareDB func(ctx context.Context, db *store.DB) error
	// Connection overrides QUEUE_CONNECTION ("database", "redis", "sync").
	Connection string
	// Metrics, when set, is the registry to feed instead of a new one.
	Metrics *telemetry.Metrics
	// Web builds the app for serving HTTP: without a Midtrans server key,
	// APP_ENV=local starts a local stand-in for Midtrans on loopback (its
	// Snap pages lead to the payment simulator), and other environments
	// are refused.
	Web bool
	// BuiltinsOnly gives the queue client only the built-in job kinds
	// (noop, sleep, fail), and builds no mail, payment or booking
	// service: for a client that only signals workers or dispatches
	// those kinds, and needs no mail or Midtrans settings.
	BuiltinsOnly bool
}

// New builds the application described by cfg: the database, the queue
// client with its workers, the notifier and the telemetry, and the
// booking, payment and mail services. cfg is the application's: with
// Options.Web and no Midtrans server key, the local stand-in's key and
// URLs are written into it.
func New(ctx context.Context, cfg *config.Config, o Options) (_ *App, err error) {
	if cfg == nil {
		return nil, errors.New("app: no configuration")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	a := &App{Config: cfg, Logger: o.Logger, Metrics: o.Metrics}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if o.Web && cfg.MidtransServerKey == "" {
		if err := a.startFakeMidtrans(); err != nil {
			return nil, err
		}
	}
	if err := a.openDB(ctx, o); err != nil {
		return nil, err
	}
	if a.Metrics == nil {
		a.Metrics = telemetry.New(telemetry.Options{Logger: a.Logger})
	}
	if err := a.openQueue(ctx, o); err != nil {
		return nil, err
	}
	if o.BuiltinsOnly {
		return a, nil
	}
	if err := a.buildServices(); err != nil {
		return nil, err
	}
	if err := a.addWorkers(a.Queue.Workers()); err != nil {
		return nil, err
	}
	return a, nil
}

// Close releases what New built, the last built first. It may be called
// more than once.
func (a *App) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}

func (a *App) onClose(fn func()) { a.closers = append(a.closers, fn) }

// startFakeMidtrans starts the local stand-in for Midtrans, with a
// throwaway key, in APP_ENV=local; elsewhere a missing key is an error.
func (a *App) startFakeMidtrans() error {
	cfg := a.Config
	if cfg.AppEnv != "local" {
		return &config.Error{Key: "MIDTRANS_SERVER_KEY", Reason: "is required unless APP_ENV=local"}
	}
	a.FakeMidtrans = midtranstest.StartLocal(cfg.AppURL)
	a.onClose(a.FakeMidtrans.Close)
	c := a.FakeMidtrans.Client()
	cfg.MidtransServerKey, cfg.MidtransSnapURL, cfg.MidtransAPIURL = c.ServerKey, c.SnapURL, c.APIURL
	return nil
}

// openDB opens the configured database, or takes o.DB, and prepares it.
func (a *App) openDB(ctx context.Context, o Options) error {
	a.DB = o.DB
	if a.DB == nil {
		d, dsn := DSN(a.Config)
		db, err := store.Open(ctx, store.OpenParams{Dialect: d, DSN: dsn})
		if err != nil {
			return err
		}
		a.onClose(func() { db.Close() })
		a.DB = db
	}
	if o.PrepareDB != nil {
		return o.PrepareDB(ctx, a.DB)
	}
	return nil
}

// DSN returns the dialect and data source name the configuration points at.
func DSN(cfg *config.Config) (store.Dialect, string) {
	d := store.Dialect(cfg.DBConnection)
	if cfg.DBURL != "" {
		return d, cfg.DBURL
	}
	return d, store.DSNFromParts(d, cfg.DBDatabase, cfg.DBHost, cfg.DBPort, cfg.DBUsername, cfg.DBPassword)
}

// openQueue builds the queue client of the configured connection, and the
// notifier, which its failure observer reports to.
//
// The notifier dispatches its send job with a client of its own on the
// bare driver (the same workers, so the same kinds and defaults): the
// observer that feeds it is part of the hooks the workers' client is
// built on, so it must exist first. Inserts need none of those hooks.
func (a *App) openQueue(ctx context.Context, o Options) error {
	cfg := a.Config
	conn := o.Connection
	if conn == "" {
		conn = cfg.QueueConnection
	}
	ws := queue.NewWorkers()
	queue.RegisterBuiltins(ws)
	// Job errors are scrubbed of the configured secrets (and of any
	// password in a URL) before they are stored, on every connection.
	scrub := cfg.Scrubber()
	qc := &queue.Config{
		Workers: ws, Logger: a.Logger, Connection: conn,
		RetryAfter: cfg.DBQueueRetryAfter, Location: cfg.AppTimezone, ScrubError: scrub,
	}
	switch conn {
	case queue.ConnectionSync:
		// Jobs run inline: there is no worker, and so nothing to observe.
		c, err := queue.NewClient(nil, qc)
		if err != nil {
			return err
		}
		a.Queue = c
		a.Notifier, err = notify.FromConfig(cfg, a.DB, c, a.Logger)
		return err
	case "database", "redis":
	default:
		return &config.Error{Key: "QUEUE_CONNECTION", Reason: fmt.Sprintf("unknown queue connection %q (want database, redis or sync)", conn)}
	}
	d, err := a.openQueueDriver(ctx, conn, o.Stderr)
	if err != nil {
		return err
	}
	a.QueueDriver = d
	inserter, err := queue.NewClient(d, qc)
	if err != nil {
		return err
	}
	if a.Notifier, err = notify.FromConfig(cfg, a.DB, inserter, a.Logger); err != nil {
		return err
	}
	// The exporter reads queue depth and live processes from the driver
	// itself: the hooked one below need not offer every optional
	// capability.
	a.Metrics.WatchQueue(d)
	// Pauses, batches, job middleware and per-minute metrics run as hooks
	// around the driver, so every worker on every server honours them.
	// The Prometheus counters and the operators' notifications of jobs
	// that fail for good watch the same outcomes.
	opsCfg := &queue.OpsConfig{Logger: a.Logger, ScrubError: scrub,
		KeepCompleted: cfg.QueueKeepCompleted > 0, MonitoredKeep: cfg.QueueMonitoredKeep,
		Observers: []func(context.Context, *driver.JobRow, queue.Outcome){a.Metrics.ObserveJob, a.Notifier.ObserveJob}}
	ops, err := queue.NewOps(d, opsCfg)
	if err != nil {
		return err
	}
	a.onClose(func() { _ = ops.Close(context.Background()) })
	a.Queue, err = queue.NewClient(queue.WithHooks(d, ops), qc)
	return err
}

// openQueueDriver returns the storage of the connection: the database's
// queue driver, or on the redis connection the Redis one standing on it
// for failed jobs, batches, pauses and the outbox of InsertTx.
func (a *App) openQueueDriver(ctx context.Context, conn string, stderr io.Writer) (driver.Driver, error) {
	d, err := QueueDriver(ctx, a.DB)
	if err != nil || conn != "redis" {
		return d, err
	}
	rd, closeRedis, err := OpenRedisDriver(ctx, a.Config, a.DB, d, RedisOptions{Logger: a.Logger, Warnings: stderr, Metrics: a.Metrics})
	if err != nil {
		return nil, err
	}
	a.onClose(closeRedis)
	return rd, nil
}

// buildServices builds the booking, payment and mail services. The
// booking transaction also inserts the invoice email and the booking's
// own expiry job; the paid transaction inserts the e-ticket email.
func (a *App) buildServices() error {
	cfg, db, q, logger := a.Config, a.DB, a.Queue, a.Logger
	// Counted in the database, which every web server shares whatever the
	// queue connection.
	dbLimiter := dbdriver.NewAdmin(db.DB)
	a.Bookings = booking.NewService(booking.ServiceParams{
		Store: db, Location: cfg.AppTimezone, Expiry: cfg.BookingExpiry(), MaxQuantity: cfg.BookingMaxQuantity,
		MaxPendingPerUser: cfg.BookingMaxPendingPerUser, RateLimit: cfg.BookingRateLimit,
		Limiter:    dbLimiter,
		OnCreateTx: []booking.TxHook{BookingJobsTx(q)},
		// The sync connection sends the invoice email inside the hook, and
		// it reads the booking: only for a booking written, seats taken.
		HooksAfterInsert: q.Connection() == queue.ConnectionSync,
		// A cancelled booking's Snap transaction is expired at Midtrans.
		OnReleaseTx: []booking.TxHook{func(ctx context.Context, tx *sql.Tx, b *booking.Booking) error {
			return payment.ExpireSnapsTx(ctx, tx, db, q, []int64{b.ID})
		}},
	})
	a.Accounts = booking.NewAccounts(booking.AccountsParams{Store: db, TokenTTL: cfg.AuthTokenTTL})
	a.Limiter = dbLimiter
	if adm, ok := a.QueueDriver.(driver.Admin); ok && cfg.QueueConnection == "redis" {
		a.Limiter = adm
	}
	if cfg.MidtransServerKey != "" {
		payments, err := payment.New(payment.Params{
			DB: db, Config: cfg, Logger: logger, Bookings: a.Bookings,
			// Rejected notifications are counted in the database, which
			// every server shares whatever the queue connection.
			Limiter: dbLimiter,
			OnPaidTx: func(ctx context.Context, tx *sql.Tx, bookingID int64) error {
				return mail.DispatchETicketTx(ctx, q, tx, bookingID)
			},
			// The operators' notification is recorded in the transaction
			// that flags the booking needs_refund: both commit, or
			// Midtrans sends the payment again.
			OnLatePaymentTx: func(ctx context.Context, tx *sql.Tx, p payment.LatePayment) error {
				status := p.Status
				if p.Departed {
					// The message reads "arrived after it was expired
					// and its tour departed; refund needed".
					status += " and its tour departed"
				}
				late := notify.LatePayment{BookingID: p.BookingID, Code: p.Code, Amount: p.Amount, Status: status, TransactionID: p.TransactionID}
				return a.Notifier.RecordTx(ctx, tx, late.Event())
			},
			OnLatePayment: func(ctx context.Context, p payment.LatePayment) {
				logger.Warn("payment arrived for a booking whose seats are gone; refund needed",
					slog.String("booking", p.Code), slog.Int64("amount", p.Amount),
					slog.String("status", p.Status), slog.Bool("departed", p.Departed), slog.String("transaction_id", p.TransactionID))
			},
		})
		if err != nil {
			return err
		}
		a.Payments = payments
	}
	if a.FakeMidtrans != nil && cfg.SimulatorEnabled() {
		// The stand-in's Snap pages lead to the simulator, through a
		// signed link that lasts the booking's hold.
		a.FakeMidtrans.SetRedirectURL(func(orderID, _ string) string {
			return a.Payments.SimulatorURL(orderID, time.Now().Add(cfg.BookingExpiry()))
		})
	}
	sender, err := mail.NewSenderFromConfig(cfg, db, mailLoader(cfg, db, a.Payments), logger)
	if err != nil {
		return err
	}
	a.Mail = sender
	return nil
}

// mailLoader reads what an email shows of a booking, through tx when the
// sync connection runs the email job inside the booking's transaction.
// The payment link is the booking's Snap page once one exists; before
// that, the simulator page when the simulator is on, else the default
// link under APP_URL. The ticket link is signed by the payment service
// when there is one, so it opens from an email without a login.
func mailLoader(cfg *config.Config, db *store.DB, payments *payment.Service) mail.BookingLoader {
	return mail.BookingLoaderFunc(func(ctx context.Context, tx *sql.Tx, id int64) (*mail.BookingMail, error) {
		r, err := db.BookingMailData(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		m := mail.BookingMailOf(r)
		if m.PaymentURL == "" && cfg.SimulatorEnabled() && payments != nil {
			m.PaymentURL = payments.SimulatorURL(r.Code, r.ExpiresAt)
		}
		if payments != nil {
			m.TicketURL = payments.TicketURL(r.BookingID, r.DepartureDate)
		}
		return m, nil
	})
}
