package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
)

// completer batches the outcomes of finished jobs: completions go to the
// driver in one JobCompleteMany per batch, retries and failures likewise.
// Adding never blocks the producer; a failing write is retried until it
// succeeds or the completer is closed past its deadline. Every write names
// the claim it records (the worker and the attempt), so an outcome whose
// claim was taken over meanwhile changes nothing; it is logged and
// counted as stale.
type completer struct {
	d        driver.Driver
	log      *slog.Logger
	worker   string
	batch    int
	interval time.Duration

	mu        sync.Mutex
	completed []driver.JobLease
	retries   []*driver.JobRetryParams
	fails     []*driver.JobFailParams
	// writing holds the claims of the outcomes a write has taken from the
	// buffer and not written yet: retried, they can take longer than the
	// lease, so the worker renews them like the buffered ones.
	writing []driver.JobLease

	// written counts the outcomes written so far, stale ones included.
	written atomic.Int64
	// stale counts the outcomes that found their claim taken over.
	stale atomic.Int64

	wake    chan struct{}
	flushes chan flushRequest
	closing chan struct{}
	done    chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
}

type flushRequest struct {
	ctx context.Context
	n   chan int
}

func newCompleter(ctx context.Context, d driver.Driver, log *slog.Logger, worker string, batch int, interval time.Duration) *completer {
	c := &completer{
		d: d, log: log, worker: worker, batch: batch, interval: interval,
		wake: make(chan struct{}, 1), flushes: make(chan flushRequest),
		closing: make(chan struct{}), done: make(chan struct{}),
	}
	c.ctx, c.cancel = context.WithCancel(ctx)
	go c.loop()
	return c
}

func (c *completer) add(fn func()) {
	c.mu.Lock()
	fn()
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *completer) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.completed) + len(c.retries) + len(c.fails)
}

// held returns the claims of jobs whose outcome is not written yet,
// buffered or being written. Those jobs are still reserved in the table,
// so the worker keeps their leases alive like those of running jobs: a
// job that finished must not be taken again by another worker while its
// outcome waits, however long a failing write is retried.
func (c *completer) held() []driver.JobLease {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append(leasesOf(c.completed, c.retries, c.fails), c.writing...)
}

// leasesOf returns the claims the outcomes record.
func leasesOf(completed []driver.JobLease, retries []*driver.JobRetryParams, fails []*driver.JobFailParams) []driver.JobLease {
	out := make([]driver.JobLease, 0, len(completed)+len(retries)+len(fails))
	out = append(out, completed...)
	for _, r := range retries {
		out = append(out, driver.JobLease{ID: r.ID, Claim: r.Claim})
	}
	for _, f := range fails {
		out = append(out, driver.JobLease{ID: f.ID, Claim: f.Claim})
	}
	return out
}

// complete records a job that succeeded.
func (c *completer) complete(l driver.JobLease) {
	c.add(func() { c.completed = append(c.completed, l) })
}

func (c *completer) retry(p *driver.JobRetryParams) {
	c.add(func() { c.retries = append(c.retries, p) })
}

func (c *completer) fail(p *driver.JobFailParams) { c.add(func() { c.fails = append(c.fails, p) }) }

func (c *completer) loop() {
	defer close(c.done)
	var timer <-chan time.Time
	for {
		select {
		case <-c.wake:
			if c.pending() >= c.batch {
				c.write(c.ctx)
				timer = nil
			} else if timer == nil {
				timer = time.After(c.interval)
			}
		case <-timer:
			timer = nil
			c.write(c.ctx)
		case req := <-c.flushes:
			req.n <- c.write(req.ctx)
		case <-c.closing:
			for c.pending() > 0 && c.ctx.Err() == nil {
				c.write(c.ctx)
			}
			return
		}
	}
}

// write sends everything buffered to the driver, retrying failed writes
// with a growing pause until they succeed or ctx ends; what could not be
// written goes back to the buffer. It returns how many outcomes it wrote.
func (c *completer) write(ctx context.Context) int {
	c.mu.Lock()
	ids, retries, fails := c.completed, c.retries, c.fails
	c.completed, c.retries, c.fails = nil, nil, nil
	c.writing = leasesOf(ids, retries, fails)
	c.mu.Unlock()
	// track records what the write still holds, for held: after the
	// last step nothing, so a write that ends leaves writing empty.
	track := func() {
		c.mu.Lock()
		c.writing = leasesOf(ids, retries, fails)
		c.mu.Unlock()
	}
	n := 0
	// Each step writes what it still holds; a *deferredError leaves only
	// the jobs it names for the next try, the others being written.
	steps := []struct {
		name  string
		count func() int
		fn    func() ([]int64, error)
		keep  func(ids map[int64]bool)
		// more takes into the step the outcomes of its kind buffered
		// since the write began, so that they go with its next try
		// instead of waiting behind the outcomes it retries.
		more func()
	}{
		{"complete", func() int { return len(ids) }, func() ([]int64, error) {
			ctx, cancel := context.WithTimeout(ctx, storageTimeout)
			defer cancel()
			return c.d.JobCompleteMany(ctx, &driver.JobCompleteParams{WorkerID: c.worker, Jobs: ids})
		}, func(keep map[int64]bool) {
			ids = slices.DeleteFunc(ids, func(l driver.JobLease) bool { return !keep[l.ID] })
		}, func() { ids = append(ids, c.completed...); c.completed = nil }},
		{"retry", func() int { return len(retries) }, func() ([]int64, error) {
			ctx, cancel := context.WithTimeout(ctx, storageTimeout)
			defer cancel()
			return c.d.JobRetryMany(ctx, retries)
		}, func(keep map[int64]bool) {
			retries = slices.DeleteFunc(retries, func(p *driver.JobRetryParams) bool { return !keep[p.ID] })
		}, func() { retries = append(retries, c.retries...); c.retries = nil }},
		{"fail", func() int { return len(fails) }, func() ([]int64, error) {
			ctx, cancel := context.WithTimeout(ctx, storageTimeout)
			defer cancel()
			return c.d.JobFailMany(ctx, fails)
		}, func(keep map[int64]bool) {
			fails = slices.DeleteFunc(fails, func(p *driver.JobFailParams) bool { return !keep[p.ID] })
		}, func() { fails = append(fails, c.fails...); c.fails = nil }},
	}
	for i, s := range steps {
		pause := 10 * time.Millisecond
		for s.count() > 0 {
			count := s.count()
			stale, err := s.fn()
			var deferred *deferredError
			if err == nil || errors.As(err, &deferred) {
				done := count
				if deferred != nil {
					done -= len(deferred.ids)
				}
				n += done
				c.written.Add(int64(done))
				if len(stale) > 0 {
					c.stale.Add(int64(len(stale)))
					c.log.Warn("queue: lease lost before the outcome was recorded; another worker holds the job or it is gone, so nothing was written",
						"step", s.name, "jobs", stale)
				}
				// What was written leaves the step; a deferred outcome
				// stays for the next try.
				var keep map[int64]bool
				if deferred != nil {
					keep = idSet(deferred.ids)
				}
				s.keep(keep)
				track()
				if deferred == nil {
					break
				}
			}
			c.log.Warn("queue: record finished jobs; retrying", "step", s.name, "jobs", s.count(), "error", err)
			if ctx.Err() != nil || !sleepCtx(ctx, pause) {
				// Give the unwritten outcomes back for a later write.
				c.mu.Lock()
				switch i {
				case 0:
					c.completed = append(c.completed, ids...)
					fallthrough
				case 1:
					c.retries = append(c.retries, retries...)
					fallthrough
				case 2:
					c.fails = append(c.fails, fails...)
				}
				c.writing = nil
				c.mu.Unlock()
				return n
			}
			pause = min(pause*2, 5*time.Second)
			if deferred != nil {
				// Only the deferred outcomes were left: the others that
				// ended meanwhile go with the next try.
				c.mu.Lock()
				s.more()
				c.writing = leasesOf(ids, retries, fails)
				c.mu.Unlock()
			}
		}
	}
	return n
}

// flush writes everything buffered now and reports how many outcomes it
// wrote.
func (c *completer) flush(ctx context.Context) int {
	req := flushRequest{ctx: ctx, n: make(chan int, 1)}
	select {
	case c.flushes <- req:
		return <-req.n
	case <-c.done:
		return 0
	}
}

// close writes what is left and stops the completer. When ctx ends first,
// the outcomes still unwritten are reported as an error: those jobs stay
// reserved and run again after their lease.
func (c *completer) close(ctx context.Context) error {
	close(c.closing)
	select {
	case <-c.done:
	case <-ctx.Done():
		c.cancel()
		<-c.done
	}
	c.cancel()
	if n := c.pending(); n > 0 {
		return fmt.Errorf("queue: %d finished jobs not recorded at shutdown; they will run again after their lease: %w", n, errors.Join(ctx.Err(), errors.New("storage unavailable")))
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
