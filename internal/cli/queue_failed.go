package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tripintravel/tripin/internal/app"
	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/dbdriver"
)

// queueFailedCommands are the commands of this file; root.go lists every file's.
var queueFailedCommands = []*Command{
	{
		Name: "queue failed", Aliases: []string{"queue:failed"}, Usage: "[--queue Q] [--limit N] [--json]",
		Summary: "list failed jobs, newest first",
		Run:     runQueueFailed,
	},
}

// openAdmin opens the configured database and returns the queue's
// operator storage on it, and the connection name the commands show.
// Failed jobs, batches and pauses live in the database whatever
// QUEUE_CONNECTION is, as in Laravel; on the redis connection the jobs
// themselves are in Redis, so its driver is the storage.
func openAdmin(ctx context.Context, env *Env) (driver.Admin, string, error) {
	cfg, err := env.Config()
	if err != nil {
		return nil, "", err
	}
	db, err := env.OpenDB(ctx)
	if err != nil {
		return nil, "", err
	}
	conn := cfg.QueueConnection
	if conn == "" || conn == queue.ConnectionSync {
		conn = "database"
	}
	if conn == "redis" {
		// The jobs that stats count, clear deletes and retry puts back
		// are in Redis; the redis driver answers for them and hands the
		// rest to the database.
		sqlDriver, err := app.QueueDriver(ctx, db)
		if err != nil {
			return nil, "", err
		}
		rd, closeRedis, err := app.OpenRedisDriver(ctx, cfg, db, sqlDriver, app.RedisOptions{})
		if err != nil {
			return nil, "", err
		}
		env.onClose(closeRedis)
		return rd, conn, nil
	}
	return dbdriver.NewAdmin(db.DB), conn, nil
}

// failedJSON is one failed job as `queue failed --json` prints it.
type failedJSON struct {
	ID         int64     `json:"id"`
	UUID       string    `json:"uuid"`
	Connection string    `json:"connection"`
	Queue      string    `json:"queue"`
	Job        string    `json:"job"`
	Exception  string    `json:"exception"`
	FailedAt   time.Time `json:"failed_at"`
}

func runQueueFailed(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "queue failed")
	q := fs.String("queue", "", "only this queue's failed jobs")
	limit := fs.Int("limit", 0, "show at most N failed jobs (0: all)")
	asJSON := fs.Bool("json", false, "print JSON")
	if rest, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("queue failed: unexpected argument %q", rest[0])
	}
	adm, _, err := openAdmin(ctx, env)
	if err != nil {
		return err
	}
	list, err := adm.FailedList(ctx, &driver.FailedListParams{Queue: *q, Limit: *limit})
	if err != nil {
		return err
	}
	if *asJSON {
		out := make([]failedJSON, 0, len(list))
		for _, f := range list {
			out = append(out, failedJSON{ID: f.ID, UUID: f.UUID, Connection: f.Connection, Queue: f.Queue,
				Job: queue.PayloadJobName(f.Payload), Exception: f.Exception, FailedAt: f.FailedAt})
		}
		return writeOpsJSON(env, out)
	}
	if len(list) == 0 {
		fmt.Fprintln(env.Stdout, "No failed jobs found.")
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FAILED AT\tID\tUUID\tCONNECTION\tQUEUE\tJOB\tERROR")
	for _, f := range list {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", f.FailedAt.UTC().Format(time.DateTime), f.ID, f.UUID,
			f.Connection, f.Queue, queue.PayloadJobName(f.Payload), exceptionHeadline(f.Exception, 80))
	}
	return tw.Flush()
}

// writeOpsJSON prints v as indented JSON.
func writeOpsJSON(env *Env, v any) error {
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// exceptionHeadline is s's first line, cut to n runes.
func exceptionHeadline(s string, n int) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if r := []rune(s); len(r) > n {
		s = string(r[:n-1]) + "…"
	}
	return s
}
