package queue_test

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tripintravel/tripin/queue/sqldb"
	"github.com/tripintravel/tripin/queue/sqldb/sqldbtest"
)

// userProgram is a program of another module that uses the queue: it
// creates the queue's tables on the backend named by its first argument,
// inserts a job in a transaction, works it, and lists the tables of its
// SQL database.
const userProgram = `package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/tripinmysql"
	"github.com/tripintravel/tripin/queue/driver/tripinpgsql"
	"github.com/tripintravel/tripin/queue/driver/tripinredis"
	"github.com/tripintravel/tripin/queue/driver/tripinsqlite"
	"github.com/tripintravel/tripin/queue/sqldb"
)

type PingArgs struct {
	Message string ` + "`json:\"message\"`" + `
}

func (PingArgs) Kind() string { return "Ping" }

func main() {
	backend, dsn := os.Args[1], os.Args[2]
	ctx := context.Background()
	dialect := sqldb.Dialect(backend)
	if backend == "redis" {
		dialect = sqldb.SQLite
	}
	db, err := sqldb.Open(ctx, sqldb.OpenParams{Dialect: dialect, DSN: dsn})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	var drv driver.Driver
	switch backend {
	case "sqlite", "redis":
		if _, err := tripinsqlite.Migrate(ctx, db); err != nil {
			log.Fatal(err)
		}
		drv = tripinsqlite.New(db, tripinsqlite.Options{})
	case "mysql":
		if _, err := tripinmysql.Migrate(ctx, db); err != nil {
			log.Fatal(err)
		}
		if drv, err = tripinmysql.New(ctx, db, tripinmysql.Options{}); err != nil {
			log.Fatal(err)
		}
	case "pgsql":
		if _, err := tripinpgsql.Migrate(ctx, db); err != nil {
			log.Fatal(err)
		}
		drv = tripinpgsql.New(db, tripinpgsql.Options{})
	default:
		log.Fatalf("unknown backend %q", backend)
	}
	if backend == "redis" {
		opts, err := redis.ParseURL(os.Args[3])
		if err != nil {
			log.Fatal(err)
		}
		rdb := redis.NewClient(opts)
		defer rdb.Close()
		prefix := os.Args[4]
		rd, err := tripinredis.New(rdb, tripinredis.Options{Prefix: prefix, DB: db, SQL: drv.(tripinredis.SQLDriver)})
		if err != nil {
			log.Fatal(err)
		}
		defer func() {
			rd.Close()
			keys, _ := rdb.Keys(ctx, prefix+"*").Result()
			if len(keys) > 0 {
				rdb.Del(ctx, keys...)
			}
		}()
		drv = rd
	}

	worked := make(chan string, 1)
	workers := queue.NewWorkers()
	queue.AddWorker(workers, queue.WorkFunc(func(ctx context.Context, job *queue.Job[PingArgs]) error {
		worked <- job.Args.Message
		return nil
	}))
	client, err := queue.NewClient(drv, &queue.Config{Workers: workers})
	if err != nil {
		log.Fatal(err)
	}
	err = db.InTx(ctx, func(tx *sql.Tx) error {
		_, err := client.InsertTx(ctx, tx, PingArgs{Message: "from another module"}, nil)
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := client.Start(ctx, queue.WorkParams{RestartInterval: -1, Output: io.Discard}); err != nil {
		log.Fatal(err)
	}
	select {
	case m := <-worked:
		fmt.Println("worked:", m)
	case <-time.After(2 * time.Minute):
		log.Fatal("the job was not worked")
	}
	if err := client.Stop(ctx); err != nil {
		log.Fatal(err)
	}

	var q string
	switch dialect {
	case sqldb.MySQL:
		q = "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
	case sqldb.PgSQL:
		q = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
	default:
		q = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
	}
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		log.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			log.Fatal(err)
		}
		fmt.Println("table:", name)
	}
	if err := rows.Err(); err != nil {
		log.Fatal(err)
	}
}
`

// queueTables are the tables the queue's migrations create, and the
// migrations table that records them.
var queueTables = []string{
	"cache", "cache_locks", "completed_jobs", "failed_jobs", "job_batch_outcomes", "job_batches",
	"job_class_metrics", "job_metrics", "jobs", "migrations", "queue_monitored_tags", "queue_pauses", "queue_processes", "queue_rate_limits",
}

// TestQueueFromAnotherModule builds a program in a module of its own that
// requires this one through a replace directive, as `go get` would bring
// it in, and runs it on SQLite, on MySQL/MariaDB and PostgreSQL when their
// test DSNs are set, and on Redis when TRIPIN_TEST_REDIS_URL is set. The
// program's job must be worked, and its database must hold the queue's
// tables and nothing else: no table of Tripin's bookings.
func TestQueueFromAnotherModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program of another module")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goLine := "go 1.26"
	for _, line := range strings.Split(string(mod), "\n") {
		if strings.HasPrefix(line, "go ") {
			goLine = line
		}
	}
	dir := t.TempDir()
	goMod := "module example.com/queueuser\n\n" + goLine + "\n\n" +
		"require github.com/tripintravel/tripin v0.0.0-00010101000000-000000000000\n\n" +
		"replace github.com/tripintravel/tripin => " + root + "\n"
	writeFile(t, filepath.Join(dir, "go.mod"), goMod)
	writeFile(t, filepath.Join(dir, "main.go"), userProgram)
	// This module's go.sum holds the checksums of every module the queue
	// needs, so the user's module checks the same versions.
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "go.sum"), string(sum))

	goCmd := goBinary(t)
	// The module proxy stays the environment's: `go mod tidy` resolves the
	// test dependencies of the queue's dependencies too, which a fresh
	// machine's module cache does not hold.
	env := append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(goCmd, args...)
		cmd.Dir, cmd.Env = dir, env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("mod", "tidy")
	bin := filepath.Join(dir, "queueuser")
	run("build", "-o", bin, ".")

	type backend struct {
		name string
		args func(t *testing.T) []string
	}
	backends := []backend{{"sqlite", func(t *testing.T) []string {
		return []string{"sqlite", filepath.Join(t.TempDir(), "jobs.db")}
	}}}
	for _, d := range sqldbtest.Dialects() {
		if d != sqldb.SQLite {
			backends = append(backends, backend{string(d), func(t *testing.T) []string {
				return []string{string(d), sqldbtest.NewDSN(t, d)}
			}})
		}
	}
	if url := os.Getenv("TRIPIN_TEST_REDIS_URL"); url != "" {
		backends = append(backends, backend{"redis", func(t *testing.T) []string {
			b := make([]byte, 6)
			_, _ = rand.Read(b)
			return []string{"redis", filepath.Join(t.TempDir(), "outbox.db"), url, "queueuser:" + hex.EncodeToString(b) + ":"}
		}})
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			cmd := exec.Command(bin, b.args(t)...)
			cmd.WaitDelay = 5 * time.Second
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %v\n%s", b.name, err, out)
			}
			var tables []string
			worked := false
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				if name, ok := strings.CutPrefix(line, "table: "); ok {
					tables = append(tables, name)
				}
				if line == "worked: from another module" {
					worked = true
				}
			}
			if !worked {
				t.Errorf("the job was not worked:\n%s", out)
			}
			slices.Sort(tables)
			if !slices.Equal(tables, queueTables) {
				t.Errorf("tables %v, want the queue's only: %v", tables, queueTables)
			}
		})
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
