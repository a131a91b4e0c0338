package queue_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/queuetest"
	"github.com/tripintravel/tripin/queue/sqldb"
)

type benchOpsArgs struct {
	N int `json:"n"`
}

func (benchOpsArgs) Kind() string { return "BenchOpsNoop" }

// BenchmarkOpsDrain measures the drain rate of no-op jobs through a worker
// with the operations layer (metrics on), as the application runs it:
// the cost of recording metrics shows here, not in `tripin bench queue`,
// whose client has no hooks.
//
//	go test -run '^$' -bench OpsDrain -benchtime 3x ./queue
func BenchmarkOpsDrain(b *testing.B) {
	for _, d := range []sqldb.Dialect{sqldb.SQLite, sqldb.PgSQL, sqldb.MySQL} {
		b.Run(string(d), func(b *testing.B) {
			drv, _ := queuetest.Driver(b, d)
			ws := queue.NewWorkers()
			queue.AddWorker(ws, queue.WorkFunc(func(context.Context, *queue.Job[benchOpsArgs]) error { return nil }))
			ops, err := queue.NewOps(drv, &queue.OpsConfig{})
			if err != nil {
				b.Fatal(err)
			}
			defer ops.Close(context.Background())
			c, err := queue.NewClient(queue.WithHooks(drv, ops), &queue.Config{Workers: ws, Location: time.UTC})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			const jobs = 20000
			var drained int
			var took time.Duration
			for range b.N {
				b.StopTimer()
				batch := make([]queue.InsertManyParams, 0, 1000)
				for i := range jobs {
					batch = append(batch, queue.InsertManyParams{Args: benchOpsArgs{N: i}})
					if len(batch) == cap(batch) {
						if _, err := c.InsertMany(ctx, batch); err != nil {
							b.Fatal(err)
						}
						batch = batch[:0]
					}
				}
				b.StartTimer()
				start := time.Now()
				err := c.Run(ctx, queue.WorkParams{
					Queues: []string{"default"}, Concurrency: 100, Sleep: 10 * time.Millisecond, PollInterval: 10 * time.Millisecond,
					RestartInterval: -1, StopTimeout: 30 * time.Second, StopWhenEmpty: true, Output: io.Discard,
				})
				took += time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				drained += jobs
			}
			b.ReportMetric(float64(drained)/took.Seconds(), "jobs/s")
		})
	}
}
