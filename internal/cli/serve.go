package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/tripintravel/tripin/internal/app"
	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/dashboard"
	"github.com/tripintravel/tripin/internal/httpapi"
	"github.com/tripintravel/tripin/internal/payment"
	"github.com/tripintravel/tripin/internal/schedule"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/dbdriver"
)

// serveCommands are the commands of this file; root.go lists every file's.
var serveCommands = []*Command{
	{
		Name: "serve", Usage: "[--addr ADDR] [--no-worker] [--worker-concurrency N] [--no-scheduler] [--cpuprofile FILE]",
		Summary: "run the API, dashboard, queue worker and scheduler in one process",
		Run:     runServe,
	},
}

// shutdownGrace is how long requests in flight may take to finish after
// SIGINT or SIGTERM.
const shutdownGrace = 25 * time.Second

func runServe(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "serve")
	addr := fs.String("addr", "", "listen address (default HTTP_ADDR, :8080)")
	noWorker := fs.Bool("no-worker", false, "do not run a queue worker in this process")
	workerConcurrency := fs.Int("worker-concurrency", queue.DefaultConcurrency, "jobs the embedded worker runs at once")
	noScheduler := fs.Bool("no-scheduler", false, "do not run the scheduler in this process")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file (bench serve --cpuprofile-dir)")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		defer stop()
	}
	if len(rest) > 0 {
		return usagef("serve: unexpected argument %q", rest[0])
	}
	if *workerConcurrency < 1 {
		return usagef("serve: --worker-concurrency must be at least 1")
	}
	cfg, err := env.Config()
	if err != nil {
		return err
	}
	if err := cfg.RequireMidtrans(); err != nil {
		return err
	}
	if *addr == "" {
		*addr = cfg.HTTPAddr
	}
	logger, err := env.Logger(true)
	if err != nil {
		return err
	}
	var seeded bool
	a, err := openApp(ctx, env, app.Options{Logger: logger, Stderr: env.Stderr, Web: true,
		// The schema is made current (or found behind) before any part
		// reads the database.
		PrepareDB: func(ctx context.Context, db *store.DB) (err error) {
			if seeded, err = prepareDatabase(ctx, env, cfg, db); err != nil {
				return err
			}
			return checkDemoAccounts(ctx, cfg, db)
		}})
	if err != nil {
		return err
	}
	db := a.DB
	payments := &payment.Handlers{Service: a.Payments, Config: cfg, Logger: logger}
	// The booking counters are read from the database at scrape time:
	// bookings are made here but paid and expired by workers that may run
	// elsewhere.
	metrics := a.Metrics
	metrics.WatchBookings(db)
	metrics.KeepQueues(workerQueues...)
	mountPayments := httpapi.MountPayments(payments)
	// The parts are filled in below, once the listener is up; /readyz
	// lists a part left out by --no-worker or --no-scheduler as disabled.
	parts := newServeParts(!*noWorker, !*noScheduler)
	dash, err := newDashboard(a)
	if err != nil {
		return err
	}
	api := httpapi.New(httpapi.Params{
		Config: cfg, DB: db, Logger: logger, Bookings: a.Bookings, Accounts: a.Accounts,
		Metrics: metrics, Parts: parts.Statuses, Limiter: a.Limiter,
		Mount: func(mux *http.ServeMux, s *httpapi.Server) {
			mountPayments(mux, s)
			// /metrics answers without a login, as Prometheus expects; it
			// must be firewalled (docs/OPERATIONS.md, "Metrics").
			mux.Handle("GET /metrics", metrics.Handler())
			dash.Mount(mux)
		},
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("serve: listen on %s: %w", *addr, err)
	}

	// The embedded worker and scheduler run on their own context: on
	// SIGTERM the HTTP server drains first, then the worker finishes its
	// running jobs, so a request that inserted a job is never cut off.
	// Each is supervised: when its run ends — `queue restart`, too many
	// abandoned jobs, a start-up error, a panic — it is started again with
	// a backoff, and /readyz reports it down while it cannot be.
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	if !*noWorker {
		// The worker's loop ticks every second however idle; thirty
		// seconds without a tick is a wedged worker.
		worker := newSupervisor(supervisorParams{Name: "worker", Logger: logger, Run: func(ctx context.Context) error {
			return a.Queue.Run(ctx, queue.WorkParams{Queues: workerQueues, Concurrency: *workerConcurrency, Output: io.Discard})
		}, Heartbeat: a.Queue.LastBeat, StaleAfter: 30 * time.Second})
		if err := worker.Start(bg); err != nil {
			return err
		}
		parts.add(worker)
		defer func() {
			stopCtx, cancel := context.WithTimeout(context.Background(), queue.DefaultStopTimeout+5*time.Second)
			defer cancel()
			if err := worker.Stop(stopCtx); err != nil {
				logger.Error("worker did not stop in time", slog.Any("error", err))
			}
		}()
	}
	if !*noScheduler {
		runner, err := newScheduleRunner(a)
		if err != nil {
			return err
		}
		// The scheduler's loop goes round at least once a minute.
		scheduler := newSupervisor(supervisorParams{Name: "scheduler", Logger: logger, Run: runner.Run,
			Heartbeat: func() time.Time { return runner.Status().Heartbeat }, StaleAfter: 3 * time.Minute})
		if err := scheduler.Start(bg); err != nil {
			return err
		}
		parts.add(scheduler)
		defer func() {
			stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := scheduler.Stop(stopCtx); err != nil {
				logger.Error("scheduler did not stop in time", slog.Any("error", err))
			}
		}()
	}

	printBanner(env, cfg, db, ln.Addr(), seeded)
	logger.Info("serving", slog.String("addr", ln.Addr().String()), slog.String("database", string(db.Dialect)),
		slog.String("env", cfg.AppEnv), slog.Bool("worker", !*noWorker), slog.Bool("scheduler", !*noScheduler))
	err = httpapi.Serve(ctx, httpapi.NewHTTPServer(api, logger), ln, shutdownGrace)
	logger.Info("stopped")
	return err
}

// startCPUProfile profiles the process into path until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// prepareDatabase makes sure the schema is current before serving. The
// local SQLite default migrates itself (and, in APP_ENV=local, seeds an
// empty database); every other setup refuses to start on a schema that is
// behind, because migrating a shared production database is an operator's
// decision. It reports whether it seeded.
func prepareDatabase(ctx context.Context, env *Env, cfg *config.Config, db *store.DB) (bool, error) {
	pending, err := db.Pending(ctx)
	if err != nil {
		return false, err
	}
	if len(pending) > 0 {
		if db.Dialect != store.SQLite || cfg.IsProduction() {
			return false, fmt.Errorf("serve: the database schema is behind (%d pending migration(s): %s); run 'tripin migrate' first",
				len(pending), strings.Join(pending, ", "))
		}
		done, err := db.Migrate(ctx)
		for _, m := range done {
			fmt.Fprintf(env.Stdout, "Migrated: %s\n", m)
		}
		if err != nil {
			return false, err
		}
	}
	if cfg.AppEnv != "local" {
		return false, nil
	}
	n, err := db.UserCount(ctx)
	if err != nil || n > 0 {
		return false, err
	}
	if _, err := seedDemo(ctx, cfg, db); err != nil {
		return false, fmt.Errorf("serve: seed: %w", err)
	}
	return true, nil
}

func printBanner(env *Env, cfg *config.Config, db *store.DB, addr net.Addr, seeded bool) {
	base := "http://" + displayHost(addr)
	w := env.Stdout
	fmt.Fprintf(w, "\nTripin is running (%s, %s database %s).\n", cfg.AppEnv, db.Dialect, db.Name)
	fmt.Fprintf(w, "  API:               %s/api   (try %s/api/tours)\n", base, base)
	fmt.Fprintf(w, "  API reference:     %s/api/docs\n", base)
	if cfg.SimulatorEnabled() {
		fmt.Fprintf(w, "  Payment simulator: %s/simulator/{booking code}  (or POST %s/api/payments/simulate)\n", base, base)
	}
	fmt.Fprintf(w, "  Dashboard:         %s/admin   (administrators only)\n", base)
	fmt.Fprintf(w, "  Health:            %s/healthz  %s/readyz\n", base, base)
	if cfg.AppEnv == "local" {
		if seeded {
			fmt.Fprintln(w, "  Seeded demo tours and accounts into the empty database.")
		}
		fmt.Fprintf(w, "  Demo admin:        %s / %s\n", demoAdminEmail, demoPassword)
		fmt.Fprintf(w, "  Demo customer:     %s / %s\n", demoCustomerEmail, demoPassword)
	}
	fmt.Fprintln(w, "Press Ctrl+C to stop.")
}

// displayHost turns a listen address into one a browser can open.
func displayHost(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return addr.String()
	}
	host := "localhost"
	if !tcp.IP.IsUnspecified() && tcp.IP != nil {
		host = tcp.IP.String()
		if tcp.IP.To4() == nil {
			host = "[" + host + "]"
		}
	}
	return fmt.Sprintf("%s:%d", host, tcp.Port)
}

// newDashboard builds the ops dashboard mounted at /admin. It reads the
// queue's tables through the database's operator storage, as the `queue`
// commands do, whatever QUEUE_CONNECTION says: that storage also lists
// waiting jobs and live workers. The schedule is the one `schedule work`
// runs, so the page shows the tasks even when this process runs no
// scheduler (--no-scheduler); their last runs come from schedule_runs.
func newDashboard(a *app.App) (*dashboard.Dashboard, error) {
	cfg, db := a.Config, a.DB
	sched, err := defaultSchedule(cfg)
	if err != nil {
		return nil, err
	}
	adm := dbdriver.NewAdmin(db.DB)
	if ra, ok := a.Queue.Driver().(driver.Admin); ok && cfg.QueueConnection == "redis" {
		// On the redis connection the jobs are in Redis: only its driver
		// lists and counts them, and puts a retried failed job back there.
		adm = ra
	}
	return dashboard.New(dashboard.Params{
		DB: db, Admin: adm, Driver: adm, Accounts: a.Accounts,
		Schedule: sched, Runs: schedule.NewRunLog(db), Config: cfg, Logger: a.Logger,
		Queues: workerQueues, DefaultMaxAttempts: queue.DefaultTries, Limiter: a.Limiter,
	}), nil
}
