// Package queue is a job queue on the database an application already has:
// SQLite, MySQL/MariaDB or PostgreSQL, or Redis with a SQL outbox. It is
// Tripin's job engine and knows nothing of Tripin's bookings: typed jobs,
// Insert and InsertTx, workers with retries, backoff, timeouts and leases,
// batches with Then/Catch/Finally callbacks, unique jobs, paused queues and
// job middleware (WithoutOverlapping, RateLimited).
//
// The engine holds no SQL. It calls the driver.Driver interface, and each
// backend is a package of its own under queue/driver that owns its
// statements (or Lua scripts) and the migrations of its tables:
//
//   - tripinsqlite: SQLite (modernc.org/sqlite, no cgo);
//   - tripinmysql: MySQL and MariaDB;
//   - tripinpgsql: PostgreSQL, with LISTEN/NOTIFY;
//   - tripinredis: Redis, standing on one of the SQL drivers, whose
//     database keeps failed jobs, batches and the outbox of InsertTx.
//
// One conformance suite, queue/driver/drivertest, runs against every driver
// on a real server.
//
// # Setting up
//
// Open the database with package sqldb and create the queue's tables with
// the driver's Migrate (or pass its Migrations to sqldb.DB.Migrate, before
// the application's own). The tables keep Laravel's names and columns: jobs,
// job_batches, failed_jobs, cache and cache_locks, plus queue_pauses,
// queue_rate_limits, job_metrics, job_class_metrics, completed_jobs,
// queue_processes, job_batch_outcomes and queue_monitored_tags.
//
//	db, err := sqldb.Open(ctx, sqldb.OpenParams{Dialect: sqldb.SQLite, DSN: "jobs.db"})
//	...
//	if _, err := tripinsqlite.Migrate(ctx, db); err != nil { ... }
//
// # Jobs and workers
//
// A job's arguments are a Go type with a Kind; its worker is a Worker of
// that type, registered in Workers. The client inserts jobs and, with Run
// or Start, works them:
//
//	workers := queue.NewWorkers()
//	queue.AddWorker(workers, queue.WorkFunc(func(ctx context.Context, job *queue.Job[GreetArgs]) error { ... }))
//	client, err := queue.NewClient(tripinsqlite.New(db, tripinsqlite.Options{}), &queue.Config{Workers: workers})
//	_, err = client.Insert(ctx, GreetArgs{Name: "Bali"}, nil)
//	err = client.Run(ctx, queue.WorkParams{Queues: []string{"default"}})
//
// InsertTx inserts in the caller's transaction, so that a row and the job
// about it commit or roll back together. Delivery is at least once: a job
// whose worker died is taken again when its lease runs out, so workers
// must be safe to run twice.
//
// Batches, paused queues, metrics and middleware live in the operations
// layer, Ops: create it with NewOps and give it to the client with
// WithHooks.
package queue
