package tripinredis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/dbdriver"
)

// history is what the SQL driver offers for the jobs that left Redis:
// completed jobs kept and failed jobs (dbdriver.Base).
type history interface {
	SearchHistory(ctx context.Context, p *driver.JobSearchParams, limit int) (completed, failed []*driver.JobEntry, err error)
	FindHistory(ctx context.Context, uuid string) (*driver.JobEntry, error)
}

var _ driver.TagMonitor = (*Driver)(nil)

// searchChunk is how many job hashes one round trip of JobSearch reads.
const searchChunk = 200

// JobSearch lists jobs in any state, newest first: those in Redis (read
// from every queue's sorted sets, newest id first, their hashes a chunk at
// a time until a page is full) merged with the completed and failed jobs
// kept in the SQL database. Unlike the SQL drivers' it reads every id of
// the queues to order them, which is fine for the queues a Redis server
// holds in memory; the hashes it reads stop at the page.
func (d *Driver) JobSearch(ctx context.Context, p *driver.JobSearchParams) (*driver.JobSearchPage, error) {
	if p == nil {
		p = &driver.JobSearchParams{}
	}
	h, ok := d.sql.(history)
	if !ok {
		return nil, errors.New("queue: search jobs: the SQL driver keeps no history")
	}
	if err := p.Check(); err != nil {
		return nil, fmt.Errorf("queue: search jobs: %w", err)
	}
	limit := p.Limit
	if limit <= 0 {
		limit = driver.DefaultJobSearchLimit
	}
	limit = min(limit, 500)
	jobs, err := d.searchJobs(ctx, p, limit+1)
	if err != nil {
		return nil, fmt.Errorf("queue: search jobs: %w", err)
	}
	completed, failed, err := h.SearchHistory(ctx, p, limit+1)
	if err != nil {
		return nil, err
	}
	return driver.MergeJobPages(p.After, limit, jobs, completed, failed), nil
}

func (d *Driver) searchJobs(ctx context.Context, p *driver.JobSearchParams, limit int) ([]*driver.JobEntry, error) {
	if !p.Wants(driver.JobStatePending) && !p.Wants(driver.JobStateDelayed) && !p.Wants(driver.JobStateReserved) {
		return nil, nil
	}
	queues := []string{p.Queue}
	if p.Queue == "" {
		var err error
		if queues, err = d.rdb.SMembers(ctx, d.key("queues")).Result(); err != nil {
			return nil, err
		}
	}
	now, err := d.Now(ctx)
	if err != nil {
		return nil, err
	}
	pipe := d.rdb.Pipeline()
	var pending, reserved []*redis.StringSliceCmd
	for _, q := range queues {
		pending = append(pending, pipe.ZRange(ctx, d.key("q:", q, ":pending"), 0, -1))
		reserved = append(reserved, pipe.ZRange(ctx, d.key("q:", q, ":reserved"), 0, -1))
	}
	if len(queues) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, err
		}
	}
	var ids []int64
	for _, c := range append(pending, reserved...) {
		for _, m := range c.Val() {
			if id, err := strconv.ParseInt(m, 10, 64); err == nil && (p.After.Jobs == 0 || id < p.After.Jobs) {
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	slices.Reverse(ids)
	ids = slices.Compact(ids)
	var out []*driver.JobEntry
	for len(ids) > 0 && len(out) < limit {
		chunk := ids[:min(searchChunk, len(ids))]
		ids = ids[len(chunk):]
		rows, err := d.jobs(ctx, chunk)
		if err != nil {
			return nil, err
		}
		for _, j := range rows {
			e := dbdriver.EntryOfJob(j)
			switch {
			case !j.ReservedAt.IsZero():
				e.State = driver.JobStateReserved
			case j.AvailableAt.After(now):
				e.State = driver.JobStateDelayed
			default:
				e.State = driver.JobStatePending
			}
			if matches(p, e) {
				out = append(out, e)
				if len(out) == limit {
					break
				}
			}
		}
	}
	return out, nil
}

// matches applies JobSearch's filters to a job read from Redis.
func matches(p *driver.JobSearchParams, e *driver.JobEntry) bool {
	switch {
	case !p.Wants(e.State),
		p.Queue != "" && e.Queue != p.Queue,
		p.Kind != "" && e.Kind != p.Kind,
		p.Tag != "" && !slices.Contains(e.Tags, p.Tag),
		p.Error != "" && !strings.Contains(e.Error, p.Error),
		!p.Since.IsZero() && e.At.Before(p.Since),
		!p.Until.IsZero() && !e.At.Before(p.Until):
		return false
	}
	return true
}

// JobFind returns one job: from Redis by its id while it is there, else
// from the history in the SQL database.
func (d *Driver) JobFind(ctx context.Context, p *driver.JobFindParams) (*driver.JobEntry, error) {
	if p == nil || p.UUID == "" {
		return nil, errors.New("queue: find job: no uuid")
	}
	if p.JobID > 0 {
		rows, err := d.jobs(ctx, []int64{p.JobID})
		if err != nil {
			return nil, fmt.Errorf("queue: find job %s: %w", p.UUID, err)
		}
		if len(rows) == 1 && rows[0].UUID == p.UUID {
			now, err := d.Now(ctx)
			if err != nil {
				return nil, fmt.Errorf("queue: find job %s: %w", p.UUID, err)
			}
			j := rows[0]
			e := dbdriver.EntryOfJob(j)
			switch {
			case !j.ReservedAt.IsZero():
				e.State = driver.JobStateReserved
			case j.AvailableAt.After(now):
				e.State = driver.JobStateDelayed
			default:
				e.State = driver.JobStatePending
			}
			return e, nil
		}
	}
	h, ok := d.sql.(history)
	if !ok {
		return nil, driver.ErrNotFound
	}
	return h.FindHistory(ctx, p.UUID)
}

// TagMonitorList forwards to the SQL database, where the tags are kept.
func (d *Driver) TagMonitorList(ctx context.Context) ([]string, error) {
	return d.tagMonitor().TagMonitorList(ctx)
}

// TagMonitorAdd forwards to the SQL database.
func (d *Driver) TagMonitorAdd(ctx context.Context, tag string) error {
	return d.tagMonitor().TagMonitorAdd(ctx, tag)
}

// TagMonitorRemove forwards to the SQL database.
func (d *Driver) TagMonitorRemove(ctx context.Context, tag string) error {
	return d.tagMonitor().TagMonitorRemove(ctx, tag)
}

func (d *Driver) tagMonitor() driver.TagMonitor {
	if t, ok := d.sql.(driver.TagMonitor); ok {
		return t
	}
	return dbdriver.NewRegistry(d.db).(driver.TagMonitor)
}
