package tripinredis

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/dbdriver"
)

// The operator's storage is the SQL driver's (embedded in Driver), except
// for the methods below: the jobs they count, delete or create live in
// Redis, and the SQL jobs table holds at most a few outbox rows.
var (
	_ driver.Queues     = (*Driver)(nil) // QueueStats, QueueClear
	_ driver.FailedJobs = (*Driver)(nil) // FailedRetry
)

// QueueStats returns per-queue counters: failed jobs and pauses from SQL,
// waiting, delayed and running jobs from Redis, all by Redis's clock.
// Jobs committed with InsertTx but not yet moved into Redis (for at most
// the relay interval) are not counted.
func (d *Driver) QueueStats(ctx context.Context, p *driver.QueueStatsParams) ([]*driver.QueueStat, error) {
	base, err := d.Admin.QueueStats(ctx, p)
	if err != nil {
		return nil, err
	}
	stats := make(map[string]*driver.QueueStat, len(base))
	outbox := make(map[string]int, len(base))
	for _, s := range base {
		// The SQL jobs table holds only the outbox, whose rows are marked
		// reserved so that no SQL worker takes them: committed jobs on
		// their way into Redis (for at most about a second), counted as
		// pending below. Redis has the rest of the queue's jobs.
		outbox[s.Queue] = s.Reserved
		s.Pending, s.Delayed, s.Reserved, s.OldestWait = 0, 0, 0, 0
		// ZCOUNT and ZCARD are exact at any size.
		s.CountLimit = 0
		stats[s.Queue] = s
	}
	now, err := d.Now(ctx)
	if err != nil {
		return nil, fmt.Errorf("queue: stats: %w", err)
	}
	sec := strconv.FormatInt(now.Unix(), 10)
	names, err := d.rdb.SMembers(ctx, d.key("queues")).Result()
	if err != nil {
		return nil, fmt.Errorf("queue: stats: %w", err)
	}
	type counts struct {
		pending, delayed, reserved *redis.IntCmd
		oldest                     *redis.ZSliceCmd
	}
	pipe := d.rdb.Pipeline()
	cs := make([]counts, len(names))
	for i, q := range names {
		pk := d.key("q:", q, ":pending")
		cs[i] = counts{
			pending:  pipe.ZCount(ctx, pk, "-inf", sec),
			delayed:  pipe.ZCount(ctx, pk, "("+sec, "+inf"),
			reserved: pipe.ZCard(ctx, d.key("q:", q, ":reserved")),
			oldest:   pipe.ZRangeByScoreWithScores(ctx, pk, &redis.ZRangeBy{Min: "-inf", Max: sec, Count: 1}),
		}
	}
	if len(names) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, fmt.Errorf("queue: stats: %w", err)
		}
	}
	for i, q := range names {
		c := cs[i]
		pending, delayed, reserved := int(c.pending.Val()), int(c.delayed.Val()), int(c.reserved.Val())
		s, ok := stats[q]
		if !ok {
			if pending+delayed+reserved == 0 {
				continue // a queue that once had jobs: listed while it has some
			}
			s = &driver.QueueStat{Queue: q}
			stats[q] = s
		}
		s.Pending, s.Delayed, s.Reserved = pending, delayed, reserved
		if z := c.oldest.Val(); len(z) > 0 && int64(z[0].Score) <= now.Unix() {
			s.OldestWait = time.Duration(now.Unix()-int64(z[0].Score)) * time.Second
		}
	}
	out := make([]*driver.QueueStat, 0, len(stats))
	for _, s := range stats {
		s.Pending += outbox[s.Queue]
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *driver.QueueStat) int { return strings.Compare(a.Queue, b.Queue) })
	return out, nil
}

// clearChunk is the number of jobs one clear script deletes.
const clearChunk = 1000

// QueueClear deletes every job of a queue, waiting, delayed or running,
// and returns how many. Committed outbox rows are moved into Redis first,
// so that they are cleared with the rest.
func (d *Driver) QueueClear(ctx context.Context, queue string) (int, error) {
	if _, err := d.RelayOutbox(ctx); err != nil {
		return 0, fmt.Errorf("queue: clear %s: %w", queue, err)
	}
	total := 0
	for {
		v, err := clearScript.Run(ctx, d.rdb, d.scriptKeys(), d.prefix, queue, clearChunk).Int64Slice()
		if err != nil {
			return total, fmt.Errorf("queue: clear %s: %w", queue, err)
		}
		if len(v) != 2 {
			return total, fmt.Errorf("queue: clear %s: the script returned %d values", queue, len(v))
		}
		total += int(v[1])
		if v[0] == 0 {
			return total, nil
		}
	}
}

// FailedRetry puts failed jobs back on their queue in Redis, attempts
// reset, and deletes their failed rows. The two stores share no
// transaction: each job is pushed with a marker (P retried:<row id>:<uuid>)
// that stops a second push, and its row is deleted afterwards, so a retry
// interrupted between the two and run again pushes nothing twice and
// loses nothing.
func (d *Driver) FailedRetry(ctx context.Context, p *driver.FailedRetryParams) ([]*driver.FailedJob, error) {
	if p == nil || (!p.All && len(p.IDs) == 0) {
		return nil, errors.New("queue: retry failed jobs: no ids given")
	}
	rows, err := d.failedRows(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("queue: retry failed jobs: %w", err)
	}
	// A lost job's row (lost.go) has nothing to put back: asked for by
	// id, that is an error; a retry of all leaves it where it is.
	kept := rows[:0]
	for _, f := range rows {
		if !isLostPayload(f.Payload) {
			kept = append(kept, f)
		} else if !p.All {
			return nil, fmt.Errorf("queue: retry failed jobs: failed job %d was lost from Redis with its data; there is nothing to retry: forget it with 'tripin queue forget %d'", f.ID, f.ID)
		}
	}
	rows = kept
	if len(rows) == 0 {
		return nil, nil
	}
	// Every payload is checked before anything moves, as the SQL drivers'
	// transaction fails as a whole.
	jobs := make([]insertArgs, len(rows))
	for i, f := range rows {
		r, err := dbdriver.RetryJobOf(f, p.DefaultMaxAttempts)
		if err != nil {
			return nil, fmt.Errorf("queue: retry failed jobs: %w", err)
		}
		jobs[i] = insertArgs{
			uuid: f.UUID, queue: f.Queue, kind: r.Kind, payload: f.Payload, maxAttempts: r.MaxAttempts,
			batchID: r.BatchID, marker: d.key("retried:", strconv.FormatInt(f.ID, 10), ":", f.UUID),
		}
	}
	if _, err := d.insert(ctx, jobs); err != nil {
		return nil, fmt.Errorf("queue: retry failed jobs: %w", err)
	}
	ids := make([]string, len(rows))
	for i, f := range rows {
		ids[i] = strconv.FormatInt(f.ID, 10)
	}
	if _, err := d.Admin.FailedForget(ctx, ids); err != nil {
		return nil, fmt.Errorf("queue: retry failed jobs: %w", err)
	}
	return rows, nil
}

// failedRows reads the failed rows FailedRetry moves, in row id order.
func (d *Driver) failedRows(ctx context.Context, p *driver.FailedRetryParams) ([]*driver.FailedJob, error) {
	var rows []*driver.FailedJob
	if p.All {
		all, err := d.Admin.FailedList(ctx, &driver.FailedListParams{Queue: p.Queue})
		if err != nil {
			return nil, err
		}
		rows = all
	} else {
		seen := map[int64]bool{}
		for _, id := range p.IDs {
			f, err := d.Admin.FailedGet(ctx, strings.TrimSpace(id))
			if errors.Is(err, driver.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if seen[f.ID] || (p.Queue != "" && f.Queue != p.Queue) {
				continue
			}
			seen[f.ID] = true
			rows = append(rows, f)
		}
	}
	slices.SortFunc(rows, func(a, b *driver.FailedJob) int { return cmp.Compare(a.ID, b.ID) })
	return rows, nil
}

// JobList returns one state's jobs from Redis, oldest available first, by
// Redis's clock.
func (d *Driver) JobList(ctx context.Context, p *driver.JobListParams) ([]*driver.JobRow, error) {
	if p == nil {
		return nil, errors.New("queue: list jobs: no state given")
	}
	switch p.State {
	case driver.JobStatePending, driver.JobStateDelayed, driver.JobStateReserved:
	default:
		return nil, fmt.Errorf("queue: list jobs: unknown state %q (want %s, %s or %s)",
			p.State, driver.JobStatePending, driver.JobStateDelayed, driver.JobStateReserved)
	}
	limit := p.Limit
	if limit <= 0 {
		limit = dbdriver.DefaultJobListLimit
	}
	offset := max(p.Offset, 0)
	queues := []string{p.Queue}
	if p.Queue == "" {
		var err error
		if queues, err = d.rdb.SMembers(ctx, d.key("queues")).Result(); err != nil {
			return nil, fmt.Errorf("queue: list %s jobs: %w", p.State, err)
		}
	}
	now, err := d.Now(ctx)
	if err != nil {
		return nil, fmt.Errorf("queue: list %s jobs: %w", p.State, err)
	}
	sec := strconv.FormatInt(now.Unix(), 10)
	// Each queue's zset is read in (available_at, id) order, so the first
	// offset+limit of each are enough for the merged page. Running jobs
	// are scored by their lease's end instead and read whole: there are no more
	// of them than the workers' concurrency.
	want := int64(offset + limit)
	// A keyset page starts at the cursor's second: the jobs of that same
	// second up to the cursor's id are read too and skipped below, so
	// their number is added to each queue's read.
	lo := "-inf"
	var ties []*redis.IntCmd
	if p.After != nil {
		lo = strconv.FormatInt(p.After.AvailableAt.Unix(), 10)
		tp := d.rdb.Pipeline()
		ties = make([]*redis.IntCmd, len(queues))
		for i, q := range queues {
			ties[i] = tp.ZCount(ctx, d.key("q:", q, ":pending"), lo, lo)
		}
		if len(queues) > 0 && p.State != driver.JobStateReserved {
			if _, err := tp.Exec(ctx); err != nil {
				return nil, fmt.Errorf("queue: list %s jobs: %w", p.State, err)
			}
		}
	}
	pipe := d.rdb.Pipeline()
	cmds := make([]*redis.ZSliceCmd, len(queues))
	var reserved []*redis.StringSliceCmd
	for i, q := range queues {
		pk := d.key("q:", q, ":pending")
		n := want
		if ties != nil {
			n += ties[i].Val()
		}
		switch p.State {
		case driver.JobStatePending:
			cmds[i] = pipe.ZRangeByScoreWithScores(ctx, pk, &redis.ZRangeBy{Min: lo, Max: sec, Count: n})
		case driver.JobStateDelayed:
			from := "(" + sec
			if p.After != nil && p.After.AvailableAt.Unix() > now.Unix() {
				from = lo
			}
			cmds[i] = pipe.ZRangeByScoreWithScores(ctx, pk, &redis.ZRangeBy{Min: from, Max: "+inf", Count: n})
		default:
			reserved = append(reserved, pipe.ZRange(ctx, d.key("q:", q, ":reserved"), 0, -1))
		}
	}
	if len(queues) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, fmt.Errorf("queue: list %s jobs: %w", p.State, err)
		}
	}
	var ids []int64
	for _, c := range reserved {
		for _, m := range c.Val() {
			if id, err := strconv.ParseInt(m, 10, 64); err == nil {
				ids = append(ids, id)
			}
		}
	}
	for _, c := range cmds {
		if c == nil {
			continue
		}
		// A queue's members come in (available_at, id) order: those the
		// cursor skips are the first ones, and no more than want after
		// them are needed, so only those jobs' hashes are read.
		kept := int64(0)
		for _, z := range c.Val() {
			id, err := strconv.ParseInt(z.Member.(string), 10, 64)
			if err != nil {
				continue
			}
			if p.After != nil && int64(z.Score) == p.After.AvailableAt.Unix() && id <= p.After.ID {
				continue
			}
			if kept == want {
				break
			}
			ids = append(ids, id)
			kept++
		}
	}
	jobs, err := d.jobs(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("queue: list %s jobs: %w", p.State, err)
	}
	slices.SortFunc(jobs, func(a, b *driver.JobRow) int {
		if c := a.AvailableAt.Compare(b.AvailableAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	if p.After != nil {
		jobs = slices.DeleteFunc(jobs, p.After.Before)
	}
	if offset >= len(jobs) {
		return nil, nil
	}
	return jobs[offset:min(offset+limit, len(jobs))], nil
}

// jobFields are the hash fields of a job, in the order parseJob reads them
// after the id.
var jobFields = []string{"uuid", "queue", "kind", "payload", "attempts", "max_attempts", "reserved_at",
	"available_at", "created_at", "unique_key", "batch_id", "reserved_by", "last_error", "lease_expires_at", "claim_seq", "error_log"}

// jobs reads jobs by id; ids whose hash is gone are left out.
func (d *Driver) jobs(ctx context.Context, ids []int64) ([]*driver.JobRow, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	pipe := d.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HMGet(ctx, d.key("job:", strconv.FormatInt(id, 10)), jobFields...)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	out := make([]*driver.JobRow, 0, len(ids))
	for i, c := range cmds {
		vals := c.Val()
		if len(vals) != len(jobFields) || vals[0] == nil {
			continue
		}
		v := make([]string, 1+len(jobFields))
		v[0] = strconv.FormatInt(ids[i], 10)
		for f, x := range vals {
			v[f+1], _ = x.(string)
		}
		j, err := parseJob(v)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, nil
}
