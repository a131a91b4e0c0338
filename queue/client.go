package queue

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/tripintravel/tripin/queue/driver"
)

// ConnectionSync is the connection name that runs jobs inline on Insert.
const ConnectionSync = "sync"

// TimeoutNone as a Timeout (in InsertOpts, Config or WorkParams) means the
// job has no time limit.
const TimeoutNone time.Duration = -1

// Defaults used when Config leaves a field zero.
const (
	DefaultQueue      = "default"
	DefaultTries      = 1
	DefaultTimeout    = 60 * time.Second
	DefaultRetryAfter = 90 * time.Second
)

// Clock tells the time. Tests pass a fake one; when Config.Clock is nil
// the engine uses the database's clock for queue decisions.
type Clock interface {
	Now() time.Time
}

// Config configures a Client.
type Config struct {
	// Workers holds the handlers by kind. Required for working jobs and for
	// the sync connection; an inserting-only client may leave it nil.
	Workers *Workers
	// Logger receives the engine's own messages. Nil discards them.
	Logger *slog.Logger
	// Connection is the connection name recorded in failed_jobs; "sync"
	// runs every job inline on Insert. Empty means the driver's Name.
	Connection string
	// Queue is the queue of jobs that name none ("default").
	Queue string
	// Tries is the number of attempts of jobs that set none, unless the
	// worker's WorkParams.Tries says otherwise (1, as in Laravel);
	// TriesUnlimited for no limit.
	Tries int
	// Timeout is the time limit of jobs that set none (60s); TimeoutNone
	// for no limit.
	Timeout time.Duration
	// Backoff is the retry backoff of jobs that set none; empty means
	// exponential with jitter.
	Backoff []time.Duration
	// RetryAfter is the lease (DB_QUEUE_RETRY_AFTER): a job reserved longer
	// ago than this, without a heartbeat, is taken again (90s).
	RetryAfter time.Duration
	// Clock overrides the database clock (tests). Nil means the database's.
	Clock Clock
	// WorkerID names this process in jobs.reserved_by. Empty means
	// host:pid:random.
	WorkerID string
	// Location is the time zone of the per-job log lines (APP_TIMEZONE).
	Location *time.Location
	// ScrubError, when set, rewrites every error text before it is stored
	// in jobs.last_error or failed_jobs.exception, whatever the driver:
	// the application masks its configured secrets with it, since an
	// error may quote a DSN, a URL or a key.
	ScrubError func(string) string
}

// Client inserts jobs and works them. It is safe for concurrent use.
type Client struct {
	driver  driver.Driver
	cfg     Config
	logger  *slog.Logger
	sync    bool
	workers *Workers
	notify  *notifier

	mu      sync.Mutex
	running *runHandle
	// beat is when (Unix nanoseconds) a run's loop last went round its
	// one-second tick; 0 before any run.
	beat atomic.Int64
}

// LastBeat returns when the loop of the client's current or last run last
// ticked: every second while it is alive and not wedged, whether or not
// there are jobs. It is the zero time before any run. A supervisor reports
// a worker whose beat has stopped as down.
func (c *Client) LastBeat() time.Time {
	n := c.beat.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// InsertManyParams is one job of an InsertMany call.
type InsertManyParams struct {
	Args JobArgs
	Opts *InsertOpts
}

// RawArgs are args given as JSON with their kind name, for dispatches from
// outside Go (`queue push`). The kind must be registered in the client's
// Workers, and the JSON must decode into its args type with no unknown
// fields; the kind's InsertOpts defaults apply.
type RawArgs struct {
	KindName string
	JSON     json.RawMessage
}

// Kind returns the kind name.
func (r RawArgs) Kind() string { return r.KindName }

// NewClient returns a client storing jobs with d. With cfg.Connection
// "sync" (or a nil d) jobs run inline on Insert and d is not used.
func NewClient(d driver.Driver, cfg *Config) (*Client, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	c := &Client{driver: d, cfg: *cfg, notify: newNotifier()}
	c.sync = cfg.Connection == ConnectionSync || d == nil
	if c.cfg.Connection == "" {
		c.cfg.Connection = ConnectionSync
		if d != nil {
			c.cfg.Connection = d.Name()
		}
	}
	if c.cfg.Queue == "" {
		c.cfg.Queue = DefaultQueue
	}
	if c.cfg.Tries == 0 {
		c.cfg.Tries = DefaultTries
	}
	if c.cfg.Tries < 0 && c.cfg.Tries != TriesUnlimited {
		return nil, fmt.Errorf("queue: config: tries %d: want > 0 or TriesUnlimited", c.cfg.Tries)
	}
	if c.cfg.Timeout == 0 {
		c.cfg.Timeout = DefaultTimeout
	}
	if c.cfg.RetryAfter <= 0 {
		c.cfg.RetryAfter = DefaultRetryAfter
	}
	if c.cfg.WorkerID == "" {
		host, _ := os.Hostname()
		c.cfg.WorkerID = fmt.Sprintf("%s:%d:%s", host, os.Getpid(), uuid.NewString()[:8])
	}
	if c.cfg.Location == nil {
		c.cfg.Location = time.Local
	}
	c.logger = cfg.Logger
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	c.workers = cfg.Workers
	if c.workers == nil {
		c.workers = NewWorkers()
	}
	return c, nil
}

// Driver returns the client's storage driver (nil for the sync connection).
func (c *Client) Driver() driver.Driver { return c.driver }

// Workers returns the client's worker registry.
func (c *Client) Workers() *Workers { return c.workers }

// Connection returns the connection name ("database", "sync", …).
func (c *Client) Connection() string { return c.cfg.Connection }

// WorkerID returns the name this client reserves jobs under.
func (c *Client) WorkerID() string { return c.cfg.WorkerID }

// now returns the injected clock's time, or the zero time meaning "the
// database's clock".
func (c *Client) now() time.Time {
	if c.cfg.Clock == nil {
		return time.Time{}
	}
	return c.cfg.Clock.Now()
}

// wallNow is the time for decisions the engine makes itself (retryUntil,
// log lines).
func (c *Client) wallNow() time.Time {
	if c.cfg.Clock == nil {
		return time.Now()
	}
	return c.cfg.Clock.Now()
}

// Insert adds one job. With the sync connection it runs the job now and
// returns its error.
func (c *Client) Insert(ctx context.Context, args JobArgs, opts *InsertOpts) (*InsertResult, error) {
	res, err := c.InsertMany(ctx, []InsertManyParams{{Args: args, Opts: opts}})
	if err != nil {
		return nil, err
	}
	return &res[0], nil
}

// InsertTx adds one job inside tx: it exists only if tx commits. With the
// sync connection the job runs now, before tx commits (as Laravel's sync
// connection does), and reads the transaction's rows through Job.Tx.
func (c *Client) InsertTx(ctx context.Context, tx *sql.Tx, args JobArgs, opts *InsertOpts) (*InsertResult, error) {
	res, err := c.InsertManyTx(ctx, tx, []InsertManyParams{{Args: args, Opts: opts}})
	if err != nil {
		return nil, err
	}
	return &res[0], nil
}

// InsertMany adds many jobs in one driver call.
func (c *Client) InsertMany(ctx context.Context, params []InsertManyParams) ([]InsertResult, error) {
	return c.insertMany(ctx, nil, params)
}

// InsertManyTx is InsertMany inside tx.
func (c *Client) InsertManyTx(ctx context.Context, tx *sql.Tx, params []InsertManyParams) ([]InsertResult, error) {
	if tx == nil && !c.sync {
		return nil, errors.New("queue: insert: nil transaction")
	}
	return c.insertMany(ctx, tx, params)
}

func (c *Client) insertMany(ctx context.Context, tx *sql.Tx, params []InsertManyParams) ([]InsertResult, error) {
	if len(params) == 0 {
		return nil, nil
	}
	ps := make([]*driver.JobInsertParams, len(params))
	for i, p := range params {
		ip, err := c.buildInsert(p.Args, p.Opts)
		if err != nil {
			return nil, err
		}
		ps[i] = ip
	}
	if c.sync {
		return c.runSync(ctx, tx, ps)
	}
	var (
		res []driver.JobInsertResult
		err error
	)
	if tx != nil {
		res, err = c.driver.JobInsertManyTx(ctx, tx, ps)
	} else {
		res, err = c.driver.JobInsertMany(ctx, ps)
	}
	if err != nil {
		return nil, fmt.Errorf("queue: insert: %w", err)
	}
	if len(res) != len(ps) {
		return nil, fmt.Errorf("queue: insert: driver returned %d results for %d jobs", len(res), len(ps))
	}
	out := make([]InsertResult, len(res))
	queues := make(map[string]bool, 2)
	for i, r := range res {
		out[i] = InsertResult{ID: r.ID, Skipped: r.Skipped}
		if !r.Skipped {
			queues[ps[i].Queue] = true
		}
	}
	// Wake this process's workers now; a worker that looks before tx
	// commits finds nothing and its next poll picks the job up.
	c.notify.publish(queues)
	return out, nil
}

// buildInsert merges the dispatch options over the kind's defaults and
// renders the Laravel payload.
func (c *Client) buildInsert(args JobArgs, opts *InsertOpts) (*driver.JobInsertParams, error) {
	if args == nil {
		return nil, errors.New("queue: insert: nil args")
	}
	kind := args.Kind()
	if kind == "" {
		return nil, fmt.Errorf("queue: insert %T: empty kind", args)
	}
	var (
		o    InsertOpts
		data []byte
		err  error
	)
	switch a := args.(type) {
	case RawArgs:
		data, o, err = c.rawArgs(a)
	case *RawArgs:
		data, o, err = c.rawArgs(*a)
	default:
		if d, ok := args.(JobArgsWithInsertOpts); ok {
			o = d.InsertOpts()
		}
		if t, ok := args.(JobArgsWithTags); ok {
			o.Tags = append(slices.Clone(o.Tags), t.Tags()...)
		}
		data, err = json.Marshal(args)
		if err != nil {
			err = fmt.Errorf("queue: insert %s: encode args: %w", kind, err)
		}
	}
	if err != nil {
		return nil, err
	}
	if opts != nil {
		o = mergeOpts(o, *opts)
	}
	if o.Tries < 0 && o.Tries != TriesUnlimited {
		return nil, fmt.Errorf("queue: insert %s: tries %d: want > 0 or TriesUnlimited", kind, o.Tries)
	}
	if o.Delay < 0 {
		return nil, fmt.Errorf("queue: insert %s: negative delay", kind)
	}
	tags, err := driver.NormalizeTags(o.Tags)
	if err != nil {
		return nil, fmt.Errorf("queue: insert %s: %w", kind, err)
	}
	for _, d := range o.Backoff {
		if d < 0 {
			return nil, fmt.Errorf("queue: insert %s: negative backoff", kind)
		}
	}

	id := uuid.NewString()
	p := Payload{UUID: id, DisplayName: kind, Job: kind, Tags: tags, Data: data}
	maxAttempts := c.cfg.Tries
	switch {
	case o.Tries == TriesUnlimited:
		p.MaxTries, maxAttempts = ptr(0), 0
	case o.Tries > 0:
		p.MaxTries, maxAttempts = ptr(o.Tries), o.Tries
	}
	if maxAttempts < 0 {
		maxAttempts = 0
	}
	switch {
	case o.Timeout < 0:
		p.Timeout = ptr(0.0)
	case o.Timeout > 0:
		p.Timeout = ptr(o.Timeout.Seconds())
	}
	if len(o.Backoff) > 0 {
		p.Backoff = ptr(FormatBackoff(o.Backoff))
	}
	if !o.RetryUntil.IsZero() {
		p.RetryUntil = ptr(o.RetryUntil.Unix())
	}
	payload, err := json.Marshal(&p)
	if err != nil {
		return nil, fmt.Errorf("queue: insert %s: encode payload: %w", kind, err)
	}
	ip := &driver.JobInsertParams{
		UUID:        id,
		Queue:       o.Queue,
		Kind:        kind,
		Payload:     payload,
		MaxAttempts: maxAttempts,
		UniqueKey:   o.UniqueKey,
	}
	if ip.Queue == "" {
		ip.Queue = c.cfg.Queue
	}
	switch {
	case !o.RunAt.IsZero():
		ip.AvailableAt = o.RunAt
	case c.cfg.Clock != nil:
		ip.AvailableAt = c.cfg.Clock.Now().Add(o.Delay)
	default:
		ip.Delay = o.Delay
	}
	return ip, nil
}

func (c *Client) rawArgs(a RawArgs) ([]byte, InsertOpts, error) {
	u := c.workers.unit(a.KindName)
	if u == nil {
		return nil, InsertOpts{}, fmt.Errorf("queue: insert: unknown job kind %q", a.KindName)
	}
	data := a.JSON
	if len(bytes.TrimSpace(data)) == 0 {
		data = json.RawMessage("{}")
	}
	if err := u.validate(data); err != nil {
		return nil, InsertOpts{}, err
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		return nil, InsertOpts{}, fmt.Errorf("queue: %s args: %w", a.KindName, err)
	}
	var o InsertOpts
	if u.defaults != nil {
		o = *u.defaults
	}
	return buf.Bytes(), o, nil
}

// mergeOpts lays the non-zero fields of over on base.
func mergeOpts(base, over InsertOpts) InsertOpts {
	if over.Queue != "" {
		base.Queue = over.Queue
	}
	if over.Tries != 0 {
		base.Tries = over.Tries
	}
	if over.Timeout != 0 {
		base.Timeout = over.Timeout
	}
	if len(over.Backoff) > 0 {
		base.Backoff = over.Backoff
	}
	if over.Delay != 0 {
		base.Delay = over.Delay
	}
	if !over.RunAt.IsZero() {
		base.RunAt = over.RunAt
	}
	if !over.RetryUntil.IsZero() {
		base.RetryUntil = over.RetryUntil
	}
	if over.UniqueKey != "" {
		base.UniqueKey = over.UniqueKey
	}
	if len(over.Tags) > 0 {
		base.Tags = append(slices.Clone(base.Tags), over.Tags...)
	}
	return base
}

func ptr[T any](v T) *T { return &v }

// runSync runs jobs inline for the sync connection: one attempt each, in
// order, stopping at the first error. tx, when not nil, is the inserting
// transaction, handed to each job as Job.Tx.
func (c *Client) runSync(ctx context.Context, tx *sql.Tx, ps []*driver.JobInsertParams) ([]InsertResult, error) {
	out := make([]InsertResult, len(ps))
	for _, ip := range ps {
		now := c.wallNow()
		row := &driver.JobRow{
			UUID: ip.UUID, Queue: ip.Queue, Kind: ip.Kind, Payload: ip.Payload,
			Attempts: 1, MaxAttempts: ip.MaxAttempts, ReservedAt: now, AvailableAt: now,
			CreatedAt: now, UniqueKey: ip.UniqueKey, BatchID: ip.BatchID, ReservedBy: c.cfg.WorkerID,
		}
		p, err := DecodePayload(ip.Payload)
		if err != nil {
			return nil, err
		}
		u := c.workers.unit(ip.Kind)
		if u == nil {
			return nil, fmt.Errorf("queue: sync %s: no worker registered for this kind", ip.Kind)
		}
		timeout := c.cfg.Timeout
		if t, ok := p.timeout(); ok {
			timeout = t
		}
		start := time.Now()
		err = runAttempt(ctx, u, tx, row, p.Data, timeout)
		c.logger.Info("queue: sync job", "job", ip.Kind, "uuid", ip.UUID, "ms", time.Since(start).Milliseconds(), "error", err)
		if err != nil {
			return nil, fmt.Errorf("queue: sync %s: %w", ip.Kind, err)
		}
	}
	return out, nil
}

// runAttempt runs one attempt with its timeout, turning a panic into an
// error that carries the stack.
func runAttempt(ctx context.Context, u *workUnit, tx *sql.Tx, row *driver.JobRow, data json.RawMessage, timeout time.Duration) (err error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{value: v, stack: stack()}
		}
		if err != nil && timeout > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded) && !IsPermanent(err) {
			if _, snoozed := IsSnooze(err); !snoozed {
				err = &timeoutError{timeout: timeout, err: err}
			}
		}
	}()
	return u.work(ctx, tx, row, data)
}

// notifier wakes this process's workers when it inserts jobs.
type notifier struct {
	mu   sync.Mutex
	subs map[*subscription]struct{}
}

type subscription struct {
	queues map[string]bool
	ch     chan struct{}
}

func newNotifier() *notifier { return &notifier{subs: map[*subscription]struct{}{}} }

func (n *notifier) subscribe(queues []string) *subscription {
	s := &subscription{queues: map[string]bool{}, ch: make(chan struct{}, 1)}
	for _, q := range queues {
		s.queues[q] = true
	}
	n.mu.Lock()
	n.subs[s] = struct{}{}
	n.mu.Unlock()
	return s
}

func (n *notifier) unsubscribe(s *subscription) {
	n.mu.Lock()
	delete(n.subs, s)
	n.mu.Unlock()
}

func (n *notifier) publish(queues map[string]bool) {
	if len(queues) == 0 {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for s := range n.subs {
		for q := range queues {
			if s.queues[q] {
				s.wake()
				break
			}
		}
	}
}

func (s *subscription) wake() {
	select {
	case s.ch <- struct{}{}:
	default:
	}
}
