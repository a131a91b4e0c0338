// Package tripinredis is the queue driver for Redis (QUEUE_CONNECTION=redis),
// as Laravel's redis queue connection, done atomically: jobs live in Redis,
// one hash per job and per queue two sorted sets (waiting jobs scored by
// available_at, running ones by the end of their lease), and every change
// of state is one Lua script, so that concurrent workers never take the
// same job and a crash never leaves a job half moved. Time is Redis's
// clock (TIME).
//
// The driver never loses a job silently: the server must not evict keys
// (CheckServer refuses a maxmemory-policy other than noeviction), a queued
// id whose job data is gone goes to failed_jobs (lost.go), unique keys
// expire so that a lost job cannot block its successors forever, and ids
// stay unique across a Redis that lost its data (the counter is seeded
// from the clock).
//
// The operator's storage stays in the SQL database, as Laravel keeps
// failed_jobs there whatever the queue connection: the driver wraps the SQL
// queue driver of the same database and forwards driver.Admin and
// driver.Registry to it, except for what concerns jobs held in Redis
// (queue statistics, clearing a queue, retrying failed jobs), which it
// answers from Redis. JobFailMany writes failed_jobs in SQL.
//
// JobInsertManyTx cannot write Redis inside a SQL transaction, so it is a
// transactional outbox: the jobs are inserted into the SQL jobs table in
// the caller's transaction and moved into Redis once committed (see
// outbox.go).
package tripinredis

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/dbdriver"
	"github.com/tripintravel/tripin/queue/sqldb"
)

// DefaultPrefix is the prefix of every Redis key the driver writes.
const DefaultPrefix = "tripin:queue:"

// DefaultRelayInterval is how often committed outbox rows are moved into
// Redis when Options.RelayInterval is zero.
const DefaultRelayInterval = time.Second

// insertChunk caps the jobs of one insert script, so that a huge insert
// never holds Redis for long. Inserts of more jobs are not atomic as a
// whole: each chunk is.
const insertChunk = 1000

// SQLDriver is the SQL queue driver the Redis driver stands on: one of
// tripinsqlite, tripinmysql or tripinpgsql over Options.DB. Its
// JobInsertManyTx writes the outbox; its Admin is the operator's storage.
type SQLDriver interface {
	driver.Driver
	driver.Admin
}

// Options configure the driver.
type Options struct {
	// Name is the connection name; "redis" when empty.
	Name string
	// Prefix starts every key; DefaultPrefix when empty. Tests use a
	// prefix of their own and delete its keys afterwards.
	Prefix string
	// DB is the application's SQL database: failed jobs, batches, pauses
	// and the outbox of JobInsertManyTx live there. Required.
	DB *sqldb.DB
	// SQL is the SQL queue driver over DB. Required.
	SQL SQLDriver
	// RelayInterval is how often a worker process moves committed outbox
	// rows into Redis (DefaultRelayInterval).
	RelayInterval time.Duration
	// Logger receives the relay's warnings and the jobs found lost. Nil
	// discards them.
	Logger *slog.Logger
	// UniqueTTLMargin is how long a unique key outlives the moment its job
	// is next due: the key of a job waiting until available_at expires at
	// available_at + UniqueTTLMargin, that of a running job at the end of
	// its lease + UniqueTTLMargin, and every claim, heartbeat and retry
	// renews it. A key whose job's hash is gone holds nothing at all; a
	// job stuck in Redis some other way (its hash left, its id gone from
	// its queue) blocks its successors for at most that long. A job that
	// waits longer than the margin past its due time (every worker down)
	// may be inserted a second time. DefaultUniqueTTLMargin when zero.
	UniqueTTLMargin time.Duration
}

// DefaultUniqueTTLMargin is Options.UniqueTTLMargin's default: a day, far
// longer than any backlog a running queue lets build up.
const DefaultUniqueTTLMargin = 24 * time.Hour

// Driver is the Redis queue driver. It implements driver.Driver,
// driver.Admin, driver.Registry, driver.JobBrowser and driver.Listener.
// Close it to stop its outbox relay.
type Driver struct {
	// Admin and Registry are the SQL driver's: the methods that concern
	// jobs held in Redis are overridden in admin.go.
	driver.Admin
	driver.Registry

	rdb    redis.UniversalClient
	db     *sqldb.DB
	sql    SQLDriver
	name   string
	prefix string
	log    *slog.Logger

	relayEvery time.Duration
	relayOnce  sync.Once
	relayMu    sync.Mutex   // one claim-time relay at a time per process
	relaySeq   atomic.Int64 // the outbox sequence the last full relay started at
	lastRelay  atomic.Int64 // unix nanoseconds of the last full relay's start
	lastWarn   atomic.Int64 // unix nanoseconds of the last relay warning
	stop       chan struct{}
	stopOnce   sync.Once
	relayDone  chan struct{}

	margin    int64        // Options.UniqueTTLMargin in whole seconds
	lostMu    sync.Mutex   // one write of lost jobs to failed_jobs at a time per process
	lostFound atomic.Int64 // jobs this process found lost (see LostJobs)
	lostWarn  atomic.Int64 // unix nanoseconds of the last failed lost-job write warning

	outboxMark string // SQL statement marking outbox rows
	outboxSel  string // SQL statement reading committed outbox rows
	outboxHas  string // SQL statement counting the outbox rows of one job
	failInsert string // SQL upsert into failed_jobs
}

var (
	_ driver.Driver     = (*Driver)(nil)
	_ driver.Admin      = (*Driver)(nil)
	_ driver.Registry   = (*Driver)(nil)
	_ driver.JobBrowser = (*Driver)(nil)
	_ driver.Listener   = (*Driver)(nil)
)

// New returns a driver on rdb, which the caller keeps and closes after
// the driver.
func New(rdb redis.UniversalClient, opts Options) (*Driver, error) {
	if rdb == nil {
		return nil, errors.New("tripinredis: no redis client")
	}
	if opts.DB == nil || opts.SQL == nil {
		return nil, errors.New("tripinredis: the SQL database and its queue driver are required")
	}
	d := &Driver{
		Admin:      opts.SQL,
		rdb:        rdb,
		db:         opts.DB,
		sql:        opts.SQL,
		name:       opts.Name,
		prefix:     opts.Prefix,
		log:        opts.Logger,
		relayEvery: opts.RelayInterval,
		stop:       make(chan struct{}),
		relayDone:  make(chan struct{}),
	}
	if d.name == "" {
		d.name = "redis"
	}
	if d.prefix == "" {
		d.prefix = DefaultPrefix
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.relayEvery <= 0 {
		d.relayEvery = DefaultRelayInterval
	}
	margin := opts.UniqueTTLMargin
	if margin <= 0 {
		margin = DefaultUniqueTTLMargin
	}
	d.margin = max(dbdriver.Seconds(margin), 1)
	// Every SQL driver has the process registry today; a driver that
	// lacked it gets the shared one on the same database rather than a
	// nil interface that would pass a type assertion and then panic.
	if r, ok := opts.SQL.(driver.Registry); ok {
		d.Registry = r
	} else {
		d.Registry = dbdriver.NewRegistry(opts.DB)
	}
	d.prepareSQL()
	return d, nil
}

// Close stops the outbox relay. It does not close the Redis client.
func (d *Driver) Close() error {
	d.stopOnce.Do(func() { close(d.stop) })
	// A relay that never started never starts now; one that runs stops.
	d.relayOnce.Do(func() { close(d.relayDone) })
	<-d.relayDone
	return nil
}

// Name returns the connection name.
func (d *Driver) Name() string { return d.name }

// Prefix returns the prefix of the driver's keys.
func (d *Driver) Prefix() string { return d.prefix }

func (d *Driver) key(parts ...string) string {
	k := d.prefix
	for _, p := range parts {
		k += p
	}
	return k
}

// scriptKeys is the key every script declares, so that a cluster routes
// it to the queue's slot.
func (d *Driver) scriptKeys() []string { return []string{d.key("id")} }

// Now returns Redis's clock.
func (d *Driver) Now(ctx context.Context) (time.Time, error) {
	t, err := d.rdb.Time(ctx).Result()
	if err != nil {
		return time.Time{}, fmt.Errorf("queue: redis clock: %w", err)
	}
	return t.UTC(), nil
}

// nowArg renders an injected clock for a script, "" for Redis's own.
func nowArg(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.Unix(), 10)
}

// insertArgs is one job for insertScript.
type insertArgs struct {
	id          int64 // 0 draws one from the counter
	uuid        string
	queue       string
	kind        string
	payload     []byte
	maxAttempts int
	availableAt int64 // 0: now + delay
	delay       int64
	createdAt   int64 // 0: now
	uniqueKey   string
	batchID     string
	marker      string
}

func fromParams(p *driver.JobInsertParams) insertArgs {
	a := insertArgs{
		uuid: p.UUID, queue: p.Queue, kind: p.Kind, payload: p.Payload,
		maxAttempts: max(p.MaxAttempts, 0), delay: dbdriver.Seconds(p.Delay),
		uniqueKey: p.UniqueKey, batchID: p.BatchID,
	}
	if a.uuid == "" {
		a.uuid = uuid.NewString()
	}
	if a.queue == "" {
		a.queue = "default"
	}
	if !p.AvailableAt.IsZero() {
		a.availableAt = p.AvailableAt.Unix()
	}
	return a
}

// Insert statuses of insertScript.
const (
	statusInserted = 0
	statusUnique   = 1
	statusMoved    = 2
)

// insertResult is insertScript's answer for one job.
type insertResult struct {
	id     int64
	status int64
}

// insert runs insertScript over jobs, insertChunk at a time.
func (d *Driver) insert(ctx context.Context, jobs []insertArgs) ([]insertResult, error) {
	out := make([]insertResult, 0, len(jobs))
	for start := 0; start < len(jobs); start += insertChunk {
		chunk := jobs[start:min(start+insertChunk, len(jobs))]
		args := make([]any, 0, 3+len(chunk)*insertFields)
		args = append(args, d.prefix, "", d.margin, len(chunk))
		for _, j := range chunk {
			args = append(args, optInt(j.id), j.uuid, j.queue, j.kind, j.payload, j.maxAttempts,
				optInt(j.availableAt), j.delay, optInt(j.createdAt), j.uniqueKey, j.batchID, j.marker)
		}
		vals, err := insertScript.Run(ctx, d.rdb, d.scriptKeys(), args...).Int64Slice()
		if err != nil {
			return nil, err
		}
		if len(vals) != 2*len(chunk) {
			return nil, fmt.Errorf("insert script returned %d values for %d jobs", len(vals), len(chunk))
		}
		for i := 0; i < len(vals); i += 2 {
			out = append(out, insertResult{id: vals[i], status: vals[i+1]})
		}
	}
	return out, nil
}

func optInt(v int64) string {
	if v == 0 {
		return ""
	}
	return strconv.FormatInt(v, 10)
}

// JobInsertMany inserts jobs with one script per insertChunk jobs. Ids come
// from one counter inside the script, so they increase in insert order
// across every process.
func (d *Driver) JobInsertMany(ctx context.Context, params []*driver.JobInsertParams) ([]driver.JobInsertResult, error) {
	if len(params) == 0 {
		return nil, nil
	}
	jobs := make([]insertArgs, len(params))
	for i, p := range params {
		jobs[i] = fromParams(p)
	}
	res, err := d.insert(ctx, jobs)
	if err != nil {
		return nil, fmt.Errorf("queue: insert jobs: %w", err)
	}
	out := make([]driver.JobInsertResult, len(res))
	for i, r := range res {
		out[i] = driver.JobInsertResult{ID: r.id, Skipped: r.status != statusInserted}
	}
	return out, nil
}

// JobClaim reserves up to Max jobs in one script. When the claim comes up
// short and the outbox may hold committed rows, it moves them into Redis
// and claims again, so that a worker takes jobs inserted with InsertTx as
// soon as they commit, and --stop-when-empty does not stop before them.
// The outbox "may hold rows" when an InsertTx ran since this process last
// relayed (the outbox sequence moved), or claimRelayGap has passed: the
// latter catches a transaction that committed after the relay read the
// outbox. An idle worker therefore reads the SQL outbox at most every
// claimRelayGap, and a busy one never (the background relay serves it).
func (d *Driver) JobClaim(ctx context.Context, p *driver.JobClaimParams) ([]*driver.JobRow, error) {
	queues := dbdriver.Dedupe(p.Queues)
	if p.Max <= 0 || len(queues) == 0 {
		return nil, nil
	}
	d.startRelay()
	jobs, seq, err := d.claim(ctx, p, queues, p.Max)
	if err != nil {
		return nil, fmt.Errorf("queue: claim jobs: %w", err)
	}
	if len(jobs) < p.Max && d.claimRelayDue(seq) && d.relayMu.TryLock() {
		moved, err := d.RelayOutbox(ctx)
		d.relayMu.Unlock()
		if err != nil && ctx.Err() == nil {
			d.warnRelay(err)
		}
		if moved > 0 {
			more, _, err := d.claim(ctx, p, queues, p.Max-len(jobs))
			if err != nil {
				// The first claim's jobs are reserved: hand them over
				// rather than leave them to their lease.
				d.log.Warn("queue: claim after the outbox relay", "error", err)
			}
			jobs = append(jobs, more...)
		}
	}
	dbdriver.SortClaimed(jobs, queues)
	return jobs, nil
}

// claimRelayGap is the most time a claim that comes up short goes without
// reading the outbox.
const claimRelayGap = 200 * time.Millisecond

func (d *Driver) claimRelayDue(seq int64) bool {
	return seq != d.relaySeq.Load() || time.Now().UnixNano()-d.lastRelay.Load() >= int64(claimRelayGap)
}

// claim runs claimScript. Members it found without their job hash are
// reported and written to failed_jobs (see lost.go) before it returns.
func (d *Driver) claim(ctx context.Context, p *driver.JobClaimParams, queues []string, limit int) ([]*driver.JobRow, int64, error) {
	args := make([]any, 0, 6+len(queues))
	args = append(args, d.prefix, nowArg(p.Now), dbdriver.LeaseSeconds(p), limit, p.WorkerID, d.margin)
	for _, q := range queues {
		args = append(args, q)
	}
	vals, err := claimScript.Run(ctx, d.rdb, d.scriptKeys(), args...).StringSlice()
	if err != nil {
		return nil, 0, err
	}
	if len(vals) < 3 {
		return nil, 0, fmt.Errorf("the claim script returned %d values, want at least 3", len(vals))
	}
	var head [3]int64
	for i := range head {
		if head[i], err = strconv.ParseInt(vals[i], 10, 64); err != nil {
			return nil, 0, fmt.Errorf("claim script value %d %q: %w", i, vals[i], err)
		}
	}
	seq, lost, found := head[0], head[1], int(head[2])
	if found < 0 || 3+2*found > len(vals) {
		return nil, 0, fmt.Errorf("the claim script reported %d lost jobs in %d values", found, len(vals))
	}
	if found > 0 {
		d.reportLost(vals[3 : 3+2*found])
	}
	if lost > 0 {
		d.recordLostJobs(ctx)
	}
	jobs, err := parseJobs(vals[3+2*found:])
	return jobs, seq, err
}

// parseJobs reads claimScript's jobs: claimValues strings per job.
func parseJobs(vals []string) ([]*driver.JobRow, error) {
	if len(vals)%claimValues != 0 {
		return nil, fmt.Errorf("claim script returned %d values, not a multiple of %d", len(vals), claimValues)
	}
	jobs := make([]*driver.JobRow, 0, len(vals)/claimValues)
	for i := 0; i < len(vals); i += claimValues {
		j, err := parseJob(vals[i : i+claimValues])
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// parseJob reads one job: the id, then the fields of luaJobFields.
func parseJob(v []string) (*driver.JobRow, error) {
	var (
		j   driver.JobRow
		err error
	)
	num := func(s string) int64 {
		if s == "" || err != nil {
			return 0
		}
		var n int64
		n, err = strconv.ParseInt(s, 10, 64)
		return n
	}
	unix := func(s string) time.Time {
		if s == "" {
			return time.Time{}
		}
		return time.Unix(num(s), 0).UTC()
	}
	j.ID = num(v[0])
	j.UUID, j.Queue, j.Kind, j.Payload = v[1], v[2], v[3], []byte(v[4])
	j.Attempts, j.MaxAttempts = int(num(v[5])), int(num(v[6]))
	j.ReservedAt, j.AvailableAt, j.CreatedAt = unix(v[7]), unix(v[8]), unix(v[9])
	j.UniqueKey, j.BatchID, j.ReservedBy, j.LastError = v[10], v[11], v[12], v[13]
	j.LeaseExpiresAt = unix(v[14])
	j.ClaimSeq = num(v[15])
	if v[16] != "" {
		j.ErrorLog = []byte(v[16])
	}
	if err != nil {
		return nil, fmt.Errorf("job %s: %w", v[0], err)
	}
	return &j, nil
}

func idArgs(prefix []any, ids []int64) []any {
	args := append(prefix[:len(prefix):len(prefix)], make([]any, 0, len(ids))...)
	for _, id := range ids {
		args = append(args, strconv.FormatInt(id, 10))
	}
	return args
}

// leaseArgs appends each lease's id and attempts to args.
func leaseArgs(args []any, leases []driver.JobLease) []any {
	for _, l := range leases {
		args = append(args, strconv.FormatInt(l.ID, 10), strconv.FormatInt(l.Claim, 10))
	}
	return args
}

// parseIDs reads the ids a script returned.
func parseIDs(vals []string) ([]int64, error) {
	if len(vals) == 0 {
		return nil, nil
	}
	ids := make([]int64, len(vals))
	for i, v := range vals {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("script returned id %q: %w", v, err)
		}
		ids[i] = id
	}
	return ids, nil
}

// runIDs runs a script that returns a list of ids.
func (d *Driver) runIDs(ctx context.Context, s *redis.Script, args []any) ([]int64, error) {
	vals, err := s.Run(ctx, d.rdb, d.scriptKeys(), args...).StringSlice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	return parseIDs(vals)
}

// JobCompleteMany deletes finished jobs still held by their claim and
// frees their unique keys, in one script, and returns the jobs whose claim
// no longer holds.
func (d *Driver) JobCompleteMany(ctx context.Context, p *driver.JobCompleteParams) ([]int64, error) {
	if p == nil || len(p.Jobs) == 0 {
		return nil, nil
	}
	stale, err := d.runIDs(ctx, completeScript, leaseArgs([]any{d.prefix, p.WorkerID}, p.Jobs))
	if err != nil {
		return nil, fmt.Errorf("queue: complete jobs: %w", err)
	}
	return stale, nil
}

// JobRetryMany makes jobs still held by their claim wait again until their
// delay has passed, in one script, and returns the jobs whose claim no
// longer holds. Retries of one call share the worker of the first.
func (d *Driver) JobRetryMany(ctx context.Context, params []*driver.JobRetryParams) ([]int64, error) {
	var stale []int64
	for _, group := range byWorker(params, func(p *driver.JobRetryParams) string { return p.WorkerID }) {
		args := make([]any, 0, 3+7*len(group))
		args = append(args, d.prefix, group[0].WorkerID, d.margin)
		for _, p := range group {
			snooze := "0"
			if p.Snooze {
				snooze = "1"
			}
			args = append(args, strconv.FormatInt(p.ID, 10), strconv.FormatInt(p.Claim, 10), nowArg(p.Now), dbdriver.Seconds(p.Delay), p.Error, snooze, string(p.ErrorLog))
		}
		s, err := d.runIDs(ctx, retryScript, args)
		if err != nil {
			return nil, fmt.Errorf("queue: retry jobs: %w", err)
		}
		stale = append(stale, s...)
	}
	return stale, nil
}

// byWorker splits params into runs that share a worker, in order.
func byWorker[T any](params []T, worker func(T) string) [][]T {
	var out [][]T
	for i := 0; i < len(params); {
		j := i + 1
		for j < len(params) && worker(params[j]) == worker(params[i]) {
			j++
		}
		out = append(out, params[i:j])
		i = j
	}
	return out
}

// JobHeartbeatMany renews the leases of the jobs still held by their claim,
// by Redis's clock, and returns the jobs it could not renew.
func (d *Driver) JobHeartbeatMany(ctx context.Context, p *driver.JobHeartbeatParams) ([]int64, error) {
	if p == nil || len(p.Jobs) == 0 {
		return nil, nil
	}
	lease := p.Lease
	if lease <= 0 {
		lease = driver.DefaultLease
	}
	lost, err := d.runIDs(ctx, heartbeatScript, leaseArgs([]any{d.prefix, p.WorkerID, nowArg(p.Now), dbdriver.Seconds(lease), d.margin}, p.Jobs))
	if err != nil {
		return nil, fmt.Errorf("queue: heartbeat jobs: %w", err)
	}
	return lost, nil
}

// failHold is how long a job being failed is kept from other claims while
// its failed_jobs row is written.
const failHold = 10 * time.Minute

// JobFailMany moves jobs still held by their claim for good to the SQL
// failed_jobs table, then deletes them from Redis, and returns the jobs
// whose claim no longer holds. The two stores cannot share a transaction,
// so the steps are ordered: a script checks each claim and holds the job
// (its lease moves failHold on, so no other claim can take it meanwhile),
// the failed_jobs rows are written, then the jobs are deleted. A crash
// before the delete leaves the job reserved in Redis, to be taken again
// when the hold ends (at-least-once, never lost), and a second failure
// replaces its failed_jobs row by uuid.
//
// The row is written here rather than by the SQL driver's JobFailMany,
// which copies the job from its own jobs table, where a Redis job is not.
func (d *Driver) JobFailMany(ctx context.Context, params []*driver.JobFailParams) ([]int64, error) {
	if len(params) == 0 {
		return nil, nil
	}
	var stale []int64
	for _, group := range byWorker(params, func(p *driver.JobFailParams) string { return p.WorkerID }) {
		args := []any{d.prefix, group[0].WorkerID, dbdriver.Seconds(failHold)}
		for _, p := range group {
			args = append(args, strconv.FormatInt(p.ID, 10), strconv.FormatInt(p.Claim, 10))
		}
		s, err := d.runIDs(ctx, failHoldScript, args)
		if err != nil {
			return nil, fmt.Errorf("queue: fail jobs: %w", err)
		}
		stale = append(stale, s...)
	}
	lost := make(map[int64]bool, len(stale))
	for _, id := range stale {
		lost[id] = true
	}
	var held []*driver.JobFailParams
	for _, p := range params {
		if !lost[p.ID] {
			held = append(held, p)
		}
	}
	if len(held) == 0 {
		return stale, nil
	}
	pipe := d.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(held))
	for i, p := range held {
		cmds[i] = pipe.HMGet(ctx, d.key("job:", strconv.FormatInt(p.ID, 10)), "uuid", "queue", "payload")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("queue: fail jobs: %w", err)
	}
	err := d.db.InTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, d.failInsert)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i, p := range held {
			v := cmds[i].Val()
			u, _ := v[0].(string)
			q, _ := v[1].(string)
			pl, _ := v[2].(string)
			conn := p.Connection
			if conn == "" {
				conn = d.name
			}
			if _, err := stmt.ExecContext(ctx, u, conn, q, pl, p.Exception, d.timestamp(p.Now), dbdriver.NullBytes(p.ErrorLog)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("queue: fail jobs: %w", err)
	}
	for _, group := range byWorker(held, func(p *driver.JobFailParams) string { return p.WorkerID }) {
		cp := &driver.JobCompleteParams{WorkerID: group[0].WorkerID}
		for _, p := range group {
			cp.Jobs = append(cp.Jobs, driver.JobLease{ID: p.ID, Claim: p.Claim})
		}
		gone, err := d.JobCompleteMany(ctx, cp)
		if err != nil {
			return nil, fmt.Errorf("queue: fail jobs: %w", err)
		}
		if len(gone) > 0 {
			// Held a moment ago: only an operator's clear or flush can
			// have removed them since, and their failure stands.
			d.log.Warn("queue: jobs failed for good were gone from Redis before their delete", "jobs", gone)
		}
	}
	return stale, nil
}

// timestamp turns an injected failure time into a failed_at parameter;
// nil lets the database use its clock.
func (d *Driver) timestamp(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	if d.db.Dialect == sqldb.SQLite {
		return t.UTC().Format(time.DateTime)
	}
	return t.UTC()
}

// CacheGet reads an entry of the shared cache; an expired entry reads as
// missing.
func (d *Driver) CacheGet(ctx context.Context, key string) (string, bool, error) {
	v, err := d.rdb.Get(ctx, d.key("cache:", key)).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("queue: cache get %s: %w", key, err)
	}
	return v, true, nil
}

// CachePut writes an entry of the shared cache that expires after ttl (0
// keeps it).
func (d *Driver) CachePut(ctx context.Context, key, value string, ttl time.Duration) error {
	if ttl > 0 {
		ttl = max(ttl, time.Millisecond)
	}
	if err := d.rdb.Set(ctx, d.key("cache:", key), value, ttl).Err(); err != nil {
		return fmt.Errorf("queue: cache put %s: %w", key, err)
	}
	return nil
}

// Listen subscribes to the channel the scripts publish on when a queue
// gets a job available now, and calls fn with the queue until ctx ends;
// then it returns nil. The subscription reconnects by itself after a lost
// connection; events published meanwhile are lost, which the engine's
// polling covers.
func (d *Driver) Listen(ctx context.Context, fn func(queue string)) error {
	ps := d.rdb.Subscribe(ctx, d.key("notify"))
	defer ps.Close()
	ch := ps.Channel()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-ch:
			if !ok {
				return nil
			}
			fn(m.Payload)
		}
	}
}
