package queue

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
)

// DefaultHeartbeatInterval is how often a worker or scheduler renews its
// row in the process registry when no interval is given.
const DefaultHeartbeatInterval = 10 * time.Second

// StaleProcessAge is how long after its last heartbeat a process's row is
// deleted by the Pruner: the process died without a clean stop.
const StaleProcessAge = time.Hour

// maxProcessJobs is how many running jobs a heartbeat names; the count is
// always exact.
const maxProcessJobs = 10

// NewProcess describes this OS process as a registry entry of kind
// (driver.ProcessWorker or driver.ProcessScheduler), with an ID of
// host:pid:random that is unique to one run, so that two runs in one
// process, or a restarted process that got the same pid, never share a
// row.
func NewProcess(kind string) *driver.Process {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	pid := os.Getpid()
	return &driver.Process{
		ID:   host + ":" + strconv.Itoa(pid) + ":" + hex.EncodeToString(b),
		Kind: kind, Host: host, PID: pid,
		Queues: []string{}, Jobs: []string{},
	}
}

// RegistryOf returns d's process registry: d's own, or that of a driver d
// wraps (one with an Unwrap method, such as WithHooks's result).
func RegistryOf(d driver.Driver) (driver.Registry, bool) {
	for d != nil {
		if reg, ok := d.(driver.Registry); ok {
			return reg, true
		}
		u, ok := d.(interface{ Unwrap() driver.Driver })
		if !ok {
			return nil, false
		}
		d = u.Unwrap()
	}
	return nil, false
}

// RegisterOptions tune Register.
type RegisterOptions struct {
	// Interval between two heartbeats (DefaultHeartbeatInterval).
	Interval time.Duration
	// Logger receives heartbeat failures; nil discards them.
	Logger *slog.Logger
	// Status, when set, is called before each heartbeat for the number of
	// running jobs and the names of up to ten of them.
	Status func() (running int, jobs []string)
}

// Registration keeps one process's row in a registry: a heartbeat now and
// then every interval, until Stop deletes the row. A failed heartbeat is
// logged and the next one tries again: the registry is for the operator's
// eyes and never stops the work it describes.
type Registration struct {
	reg    driver.Registry
	p      driver.Process
	opts   RegisterOptions
	cancel context.CancelFunc
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
	err    error
}

// Register starts heartbeating p in reg in the background. The heartbeats
// outlive ctx's cancellation (a stopping worker still drains its jobs and
// says so) but not ctx's values; they end with Stop, which the caller must
// call.
func Register(ctx context.Context, reg driver.Registry, p *driver.Process, opts RegisterOptions) *Registration {
	if opts.Interval <= 0 {
		opts.Interval = DefaultHeartbeatInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &Registration{reg: reg, p: *p, opts: opts, cancel: cancel, stop: make(chan struct{}), done: make(chan struct{})}
	go r.loop(ctx)
	return r
}

// ID returns the registered process's ID.
func (r *Registration) ID() string { return r.p.ID }

func (r *Registration) loop(ctx context.Context) {
	defer close(r.done)
	t := time.NewTicker(r.opts.Interval)
	defer t.Stop()
	for {
		r.beat(ctx)
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
	}
}

func (r *Registration) beat(ctx context.Context) {
	p := r.p
	if r.opts.Status != nil {
		p.Running, p.Jobs = r.opts.Status()
	}
	// A heartbeat slower than the interval is as good as lost; the next
	// one must not queue up behind it.
	hctx, cancel := context.WithTimeout(ctx, max(r.opts.Interval, 5*time.Second))
	defer cancel()
	if err := r.reg.ProcessHeartbeat(hctx, &p); err != nil && ctx.Err() == nil {
		r.opts.Logger.Warn("queue: process heartbeat", "process", p.ID, "kind", p.Kind, "error", err)
	}
}

// Stop ends the heartbeats and deletes the process's row, waiting for
// both at most until ctx ends. Later calls return the first one's result.
//
// A heartbeat under way is let finish before the row is deleted, not
// cancelled: a cancelled statement may still be carried out by the
// server after the client gave up on it (MySQL goes on with a statement
// whose connection was closed), and an upsert landing after the delete
// would bring the row back for StaleProcessAge. Only when ctx ends first
// is the heartbeat cancelled.
func (r *Registration) Stop(ctx context.Context) error {
	r.once.Do(func() {
		close(r.stop)
		select {
		case <-r.done:
		case <-ctx.Done():
			r.cancel()
		}
		defer r.cancel()
		if err := r.reg.ProcessRemove(ctx, r.p.ID); err != nil {
			r.opts.Logger.Warn("queue: remove process", "process", r.p.ID, "kind", r.p.Kind, "error", err)
			r.err = err
		}
	})
	return r.err
}

// activeJobs are the jobs a worker runs, as its heartbeat reports them:
// the worker's loop adds and removes them, the heartbeat reads them. A nil
// *activeJobs (no registry) ignores every call.
type activeJobs struct {
	mu   sync.Mutex
	jobs map[int64]string
}

func newActiveJobs() *activeJobs { return &activeJobs{jobs: map[int64]string{}} }

func (a *activeJobs) add(row *driver.JobRow) {
	if a == nil {
		return
	}
	a.mu.Lock()
	a.jobs[row.ID] = row.Kind + "#" + strconv.FormatInt(row.ID, 10)
	a.mu.Unlock()
}

func (a *activeJobs) remove(id int64) {
	if a == nil {
		return
	}
	a.mu.Lock()
	delete(a.jobs, id)
	a.mu.Unlock()
}

// status returns the number of running jobs and the names of the ten
// taken first (lowest ids), so that a long job stays in view.
func (a *activeJobs) status() (int, []string) {
	a.mu.Lock()
	ids := make([]int64, 0, len(a.jobs))
	for id := range a.jobs {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, cmp.Compare)
	names := make([]string, 0, min(len(ids), maxProcessJobs))
	for _, id := range ids[:min(len(ids), maxProcessJobs)] {
		names = append(names, a.jobs[id])
	}
	a.mu.Unlock()
	return len(ids), names
}

// register enters the worker run in the driver's process registry, when
// the driver has one, and returns the function that takes it out.
func (r *runner) register(ctx context.Context) (unregister func()) {
	reg, ok := RegistryOf(r.d)
	if !ok {
		return func() {}
	}
	p := NewProcess(driver.ProcessWorker)
	p.Queues, p.Concurrency = r.p.Queues, r.p.Concurrency
	r.active = newActiveJobs()
	rg := Register(ctx, reg, p, RegisterOptions{Interval: r.p.HeartbeatInterval, Logger: r.log, Status: r.active.status})
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = rg.Stop(sctx) // Stop has logged a failure.
	}
}

// Unwrap returns the driver the hooks wrap.
func (d *hookedDriver) Unwrap() driver.Driver { return d.Driver }

// hookedRegistry and hookedListenerRegistry are WithHooks's result for a
// driver with a process registry and a job browser: both pass by the
// hooks, which only concern the jobs a worker claims.
type hookedRegistry struct {
	*hookedDriver
	driver.Registry
	driver.JobBrowser
}

type hookedListenerRegistry struct {
	*hookedListener
	driver.Registry
	driver.JobBrowser
}

var (
	_ driver.Admin      = (*hookedRegistry)(nil)
	_ driver.Registry   = (*hookedRegistry)(nil)
	_ driver.JobBrowser = (*hookedRegistry)(nil)
	_ driver.Admin      = (*hookedListenerRegistry)(nil)
	_ driver.Listener   = (*hookedListenerRegistry)(nil)
	_ driver.Registry   = (*hookedListenerRegistry)(nil)
	_ driver.JobBrowser = (*hookedListenerRegistry)(nil)
)

// withRegistry returns hooked, the hooks around d, with d's registry and
// job browser when d has both.
func withRegistry(hooked driver.Driver, d driver.Driver) driver.Driver {
	reg, ok := d.(driver.Registry)
	jb, ok2 := d.(driver.JobBrowser)
	if !ok || !ok2 {
		return hooked
	}
	switch h := hooked.(type) {
	case *hookedListener:
		return &hookedListenerRegistry{hookedListener: h, Registry: reg, JobBrowser: jb}
	case *hookedDriver:
		return &hookedRegistry{hookedDriver: h, Registry: reg, JobBrowser: jb}
	}
	return hooked
}
