package queue_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/tripinsqlite"
	"github.com/tripintravel/tripin/queue/sqldb"
)

// GreetArgs are the arguments of a job that greets someone. Kind names the
// job in the jobs table and picks its worker.
type GreetArgs struct {
	Name string `json:"name"`
}

func (GreetArgs) Kind() string { return "Greet" }

// greet is the worker of GreetArgs.
func greet(ctx context.Context, job *queue.Job[GreetArgs]) error {
	fmt.Printf("hello, %s\n", job.Args.Name)
	return nil
}

// openExampleDB opens a new SQLite database in a temporary directory and
// creates the queue's tables in it. close removes it again.
func openExampleDB() (db *sqldb.DB, close func()) {
	dir, err := os.MkdirTemp("", "queue-example")
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	db, err = sqldb.Open(ctx, sqldb.OpenParams{Dialect: sqldb.SQLite, DSN: filepath.Join(dir, "jobs.db")})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := tripinsqlite.Migrate(ctx, db); err != nil {
		log.Fatal(err)
	}
	return db, func() {
		db.Close()
		os.RemoveAll(dir)
	}
}

// drain works jobs of the default queue, one at a time, until none is
// left.
func drain(c *queue.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := c.Run(ctx, queue.WorkParams{
		Concurrency: 1, StopWhenEmpty: true, RestartInterval: -1,
		Sleep: 100 * time.Millisecond, Output: io.Discard,
	})
	if err != nil {
		log.Fatal(err)
	}
}

// A program opens the database, creates the queue's tables, registers its
// workers, inserts jobs and works them.
func Example() {
	db, closeDB := openExampleDB()
	defer closeDB()

	workers := queue.NewWorkers()
	queue.AddWorker(workers, queue.WorkFunc(greet))
	client, err := queue.NewClient(tripinsqlite.New(db, tripinsqlite.Options{}), &queue.Config{Workers: workers})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := client.Insert(context.Background(), GreetArgs{Name: "Bali"}, nil); err != nil {
		log.Fatal(err)
	}
	drain(client)
	// Output: hello, Bali
}

// Insert stores a job; options choose its queue, tries, delay and more.
func ExampleClient_Insert() {
	db, closeDB := openExampleDB()
	defer closeDB()
	client, err := queue.NewClient(tripinsqlite.New(db, tripinsqlite.Options{}), nil)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	res, err := client.Insert(ctx, GreetArgs{Name: "Lombok"}, &queue.InsertOpts{Queue: "greetings", Tries: 3, Delay: time.Hour})
	if err != nil {
		log.Fatal(err)
	}
	var queueName string
	var tries int
	if err := db.QueryRowContext(ctx, "SELECT queue, max_attempts FROM jobs WHERE id = ?", res.ID).Scan(&queueName, &tries); err != nil {
		log.Fatal(err)
	}
	fmt.Println(queueName, tries)
	// Output: greetings 3
}

// Run works jobs until its context ends or, with StopWhenEmpty, until no
// job is left. An error returned by a worker retries the job.
func ExampleClient_Run() {
	db, closeDB := openExampleDB()
	defer closeDB()

	attempts := 0
	workers := queue.NewWorkers()
	queue.AddWorker(workers, queue.WorkFunc(func(ctx context.Context, job *queue.Job[GreetArgs]) error {
		attempts++
		if attempts == 1 {
			return fmt.Errorf("not yet")
		}
		fmt.Printf("hello, %s, on attempt %d\n", job.Args.Name, job.Attempts)
		return nil
	}))
	client, err := queue.NewClient(tripinsqlite.New(db, tripinsqlite.Options{}), &queue.Config{Workers: workers})
	if err != nil {
		log.Fatal(err)
	}
	opts := &queue.InsertOpts{Tries: 2, Backoff: []time.Duration{0}}
	if _, err := client.Insert(context.Background(), GreetArgs{Name: "Flores"}, opts); err != nil {
		log.Fatal(err)
	}
	drain(client)
	// Output: hello, Flores, on attempt 2
}

// InsertTx stores a job in the caller's transaction: the job exists if and
// only if the transaction commits, so a row and the job about it never
// part.
func ExampleClient_InsertTx() {
	db, closeDB := openExampleDB()
	defer closeDB()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "CREATE TABLE visitors (name TEXT NOT NULL)"); err != nil {
		log.Fatal(err)
	}
	workers := queue.NewWorkers()
	queue.AddWorker(workers, queue.WorkFunc(greet))
	client, err := queue.NewClient(tripinsqlite.New(db, tripinsqlite.Options{}), &queue.Config{Workers: workers})
	if err != nil {
		log.Fatal(err)
	}

	for _, name := range []string{"Komodo", "Sumba"} {
		err := db.InTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, "INSERT INTO visitors (name) VALUES (?)", name); err != nil {
				return err
			}
			if _, err := client.InsertTx(ctx, tx, GreetArgs{Name: name}, nil); err != nil {
				return err
			}
			if name == "Sumba" {
				return fmt.Errorf("changed our mind") // rolls back the row and the job
			}
			return nil
		})
		if err != nil {
			fmt.Println(name+":", err)
		}
	}
	drain(client)
	// Output:
	// Sumba: changed our mind
	// hello, Komodo
}

// CountArgs are the arguments of one job of a batch.
type CountArgs struct {
	N int `json:"n"`
}

func (CountArgs) Kind() string { return "Count" }

// DoneArgs are the arguments of the job a batch dispatches once all its
// jobs succeeded.
type DoneArgs struct{}

func (DoneArgs) Kind() string { return "Done" }

// A batch dispatches its Then, Catch and Finally jobs once its jobs have
// ended. Batches need the operations layer (NewOps) as the worker's hooks:
// it keeps each batch's counters.
func ExampleClient_Batch() {
	db, closeDB := openExampleDB()
	defer closeDB()
	drv := tripinsqlite.New(db, tripinsqlite.Options{})
	ops, err := queue.NewOps(drv, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer ops.Close(context.Background())

	workers := queue.NewWorkers()
	queue.AddWorker(workers, queue.WorkFunc(func(ctx context.Context, job *queue.Job[CountArgs]) error {
		fmt.Println("count", job.Args.N)
		return nil
	}))
	queue.AddWorker(workers, queue.WorkFunc(func(ctx context.Context, job *queue.Job[DoneArgs]) error {
		fmt.Println("all counted")
		return nil
	}))
	client, err := queue.NewClient(queue.WithHooks(drv, ops), &queue.Config{Workers: workers})
	if err != nil {
		log.Fatal(err)
	}
	b, err := client.Batch(CountArgs{N: 1}, CountArgs{N: 2}, CountArgs{N: 3}).Name("count to three").
		Then(DoneArgs{}).Dispatch(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(b.Name, b.TotalJobs)
	drain(client)
	drain(client) // the Then job, dispatched as the last job ended
	// Output:
	// count to three 3
	// count 1
	// count 2
	// count 3
	// all counted
}

// A unique key keeps a second job out while one with the same key is
// pending or running.
func ExampleInsertOpts_uniqueKey() {
	db, closeDB := openExampleDB()
	defer closeDB()
	client, err := queue.NewClient(tripinsqlite.New(db, tripinsqlite.Options{}), nil)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	for range 2 {
		res, err := client.Insert(ctx, GreetArgs{Name: "Raja Ampat"}, &queue.InsertOpts{UniqueKey: "greet:raja-ampat"})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("skipped:", res.Skipped)
	}
	// Output:
	// skipped: false
	// skipped: true
}

// logMiddleware prints around each attempt of a job.
type logMiddleware struct{ name string }

func (m logMiddleware) Before(ctx context.Context, adm driver.Admin, row *driver.JobRow) (time.Duration, error) {
	fmt.Println("before", row.Kind, "for", m.name)
	return 0, nil
}

func (m logMiddleware) After(ctx context.Context, adm driver.Admin, row *driver.JobRow) {
	fmt.Println("after", row.Kind)
}

// Middleware wrap the jobs of a kind; they are built from each job's args.
// The engine ships WithoutOverlapping and RateLimited, which keep their
// state in the database so that they hold across processes.
func ExampleAddMiddleware() {
	db, closeDB := openExampleDB()
	defer closeDB()
	drv := tripinsqlite.New(db, tripinsqlite.Options{})
	ops, err := queue.NewOps(drv, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer ops.Close(context.Background())
	queue.AddMiddleware(ops, func(args GreetArgs) []queue.Middleware {
		return []queue.Middleware{
			logMiddleware{name: args.Name},
			queue.WithoutOverlapping("greet:"+args.Name, time.Second),
		}
	})

	workers := queue.NewWorkers()
	queue.AddWorker(workers, queue.WorkFunc(greet))
	client, err := queue.NewClient(queue.WithHooks(drv, ops), &queue.Config{Workers: workers})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := client.Insert(context.Background(), GreetArgs{Name: "Toraja"}, nil); err != nil {
		log.Fatal(err)
	}
	drain(client)
	// Output:
	// before Greet for Toraja
	// hello, Toraja
	// after Greet
}
