package drivertest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
)

// BenchmarkDrain measures the storage side of draining a queue: for each
// b.N it inserts jobs no-op jobs (untimed), then claimers goroutines claim
// up to batch jobs at a time and complete each batch with one call, until
// the queue is empty. It reports jobs/s and inserts/s.
func BenchmarkDrain(b *testing.B, d driver.Driver, jobs, batch, claimers int) {
	ctx := context.Background()
	var drained, inserted int
	var drainTime, insertTime time.Duration
	for range b.N {
		b.StopTimer()
		start := time.Now()
		for done := 0; done < jobs; {
			n := min(5000, jobs-done)
			params := make([]*driver.JobInsertParams, n)
			for i := range params {
				params[i] = job("bench", "noop")
			}
			if _, err := d.JobInsertMany(ctx, params); err != nil {
				b.Fatalf("insert: %v", err)
			}
			done += n
		}
		insertTime += time.Since(start)
		inserted += jobs
		b.StartTimer()
		start = time.Now()
		var wg sync.WaitGroup
		var mu sync.Mutex
		var firstErr error
		count := 0
		for w := range claimers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					got, err := d.JobClaim(ctx, &driver.JobClaimParams{Queues: []string{"bench"}, Max: batch, WorkerID: fmt.Sprint("bench-", w), RetryAfter: time.Hour})
					if err == nil && len(got) > 0 {
						_, err = d.JobCompleteMany(ctx, driver.CompleteParamsOf(got))
					}
					mu.Lock()
					if err != nil && firstErr == nil {
						firstErr = err
					}
					count += len(got)
					mu.Unlock()
					if err != nil || len(got) == 0 {
						return
					}
				}
			}()
		}
		wg.Wait()
		drainTime += time.Since(start)
		if firstErr != nil {
			b.Fatalf("drain: %v", firstErr)
		}
		if count != jobs {
			b.Fatalf("drained %d jobs, want %d", count, jobs)
		}
		drained += count
	}
	b.ReportMetric(float64(drained)/drainTime.Seconds(), "jobs/s")
	b.ReportMetric(float64(inserted)/insertTime.Seconds(), "inserts/s")
}
