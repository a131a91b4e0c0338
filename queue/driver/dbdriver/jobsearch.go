package dbdriver

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/sqldb"
)

// Base finds jobs in any state (driver.JobBrowser's JobSearch and
// JobFind) in jobs, completed_jobs and failed_jobs, and keeps the
// monitored tags (driver.TagMonitor) in queue_monitored_tags.
var _ driver.TagMonitor = (*Base)(nil)

// JobSearch returns one page of jobs in any state, newest first. Each
// table is read newest first by primary key below the cursor's id for it,
// at most Limit+1 rows, and the three lists are merged by time
// (driver.MergeJobPages), so a page reads at most 3×(Limit+1) rows
// however many the tables hold, once the filters find enough.
func (b *Base) JobSearch(ctx context.Context, p *driver.JobSearchParams) (*driver.JobSearchPage, error) {
	if p == nil {
		p = &driver.JobSearchParams{}
	}
	if err := p.Check(); err != nil {
		return nil, fmt.Errorf("queue: search jobs: %w", err)
	}
	limit := searchLimit(p)
	jobs, err := b.searchJobs(ctx, p, limit+1)
	if err != nil {
		return nil, err
	}
	completed, failed, err := b.SearchHistory(ctx, p, limit+1)
	if err != nil {
		return nil, err
	}
	return driver.MergeJobPages(p.After, limit, jobs, completed, failed), nil
}

func searchLimit(p *driver.JobSearchParams) int {
	if p.Limit <= 0 {
		return driver.DefaultJobSearchLimit
	}
	return min(p.Limit, 500)
}

// SearchHistory returns the completed and failed jobs JobSearch would
// list (each newest first by id, at most limit), for drivers that keep
// waiting jobs elsewhere and their history here (the Redis driver).
func (b *Base) SearchHistory(ctx context.Context, p *driver.JobSearchParams, limit int) (completed, failed []*driver.JobEntry, err error) {
	if p.Wants(driver.JobStateCompleted) && p.Error == "" {
		if completed, err = b.searchCompleted(ctx, p, limit); err != nil {
			return nil, nil, err
		}
	}
	if p.Wants(driver.JobStateFailed) {
		if failed, err = b.searchFailed(ctx, p, limit); err != nil {
			return nil, nil, err
		}
	}
	return completed, failed, nil
}

// where gathers a statement's conditions and their arguments.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// common adds the filters every table shares: the cursor's id, queue,
// tag (in the payload) and times.
func (b *Base) common(w *where, p *driver.JobSearchParams, cursor int64, at string, atArg func(time.Time) any) {
	if cursor > 0 {
		w.add("id < ?", cursor)
	}
	if p.Queue != "" {
		w.add("queue = ?", p.Queue)
	}
	if p.Tag != "" {
		w.add("payload LIKE ? ESCAPE '!'", driver.TagPattern(p.Tag))
	}
	if !p.Since.IsZero() {
		w.add(at+" >= ?", atArg(p.Since))
	}
	if !p.Until.IsZero() {
		w.add(at+" < ?", atArg(p.Until))
	}
}

func unixArg(t time.Time) any { return t.Unix() }

func (b *Base) searchJobs(ctx context.Context, p *driver.JobSearchParams, limit int) ([]*driver.JobEntry, error) {
	var states []string
	for _, s := range []string{driver.JobStatePending, driver.JobStateDelayed, driver.JobStateReserved} {
		if p.Wants(s) {
			states = append(states, s)
		}
	}
	if len(states) == 0 {
		return nil, nil
	}
	now := b.nowExpr()
	var w where
	b.common(&w, p, p.After.Jobs, "created_at", unixArg)
	if len(states) < 3 {
		var ors []string
		for _, s := range states {
			switch s {
			case driver.JobStatePending:
				ors = append(ors, "(reserved_at IS NULL AND available_at <= "+now+")")
			case driver.JobStateDelayed:
				ors = append(ors, "(reserved_at IS NULL AND available_at > "+now+")")
			default:
				ors = append(ors, "reserved_at IS NOT NULL")
			}
		}
		w.add("(" + strings.Join(ors, " OR ") + ")")
	}
	if p.Kind != "" {
		w.add("kind = ?", p.Kind)
	}
	if p.Error != "" {
		w.add("last_error LIKE ? ESCAPE '!'", "%"+driver.LikeEscape(p.Error)+"%")
	}
	query := "SELECT " + JobColumns + ", CASE WHEN reserved_at IS NOT NULL THEN 'reserved' WHEN available_at > " + now +
		" THEN 'delayed' ELSE 'pending' END FROM jobs" + w.sql() + " ORDER BY id DESC LIMIT ?"
	rows, err := b.reader().QueryContext(ctx, b.q(query), append(w.args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("queue: search jobs: %w", err)
	}
	defer rows.Close()
	var out []*driver.JobEntry
	for rows.Next() {
		var state string
		j, err := ScanJob(scanPlus{rows, &state})
		if err != nil {
			return nil, fmt.Errorf("queue: search jobs: %w", err)
		}
		e := EntryOfJob(j)
		e.State = state
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("queue: search jobs: %w", err)
	}
	return out, nil
}

// scanPlus scans a row of JobColumns followed by more columns.
type scanPlus struct {
	rows interface{ Scan(...any) error }
	more *string
}

func (s scanPlus) Scan(dest ...any) error { return s.rows.Scan(append(dest, s.more)...) }

// EntryOfJob is the JobEntry of a job still in the queue; its State is
// left for the caller, who knows the clock it was read by.
func EntryOfJob(j *driver.JobRow) *driver.JobEntry {
	return &driver.JobEntry{
		ID: j.ID, JobID: j.ID, UUID: j.UUID, Queue: j.Queue, Kind: j.Kind, Tags: driver.PayloadTags(j.Payload),
		Payload: j.Payload, Attempts: j.Attempts, MaxAttempts: j.MaxAttempts, Error: j.LastError,
		Errors:  driver.ParseErrorLog(j.ErrorLog),
		BatchID: j.BatchID, ReservedBy: j.ReservedBy, QueuedAt: j.CreatedAt, AvailableAt: j.AvailableAt,
		StartedAt: j.ReservedAt, At: j.CreatedAt,
	}
}

const completedColumns = "id, job_id, uuid, queue, kind, payload, attempts, runtime_ms, wait_ms, completed_at, queued_at, available_at, started_at, error_log"

func scanCompleted(rows interface{ Scan(...any) error }) (*driver.JobEntry, error) {
	var (
		e                          driver.JobEntry
		payload                    sql.NullString
		completed                  int64
		queued, available, started sql.NullInt64
		errorLog                   []byte
	)
	if err := rows.Scan(&e.ID, &e.JobID, &e.UUID, &e.Queue, &e.Kind, &payload, &e.Attempts, &e.RuntimeMS, &e.WaitMS,
		&completed, &queued, &available, &started, &errorLog); err != nil {
		return nil, err
	}
	e.State = driver.JobStateCompleted
	e.Errors = driver.ParseErrorLog(errorLog)
	e.Payload = []byte(payload.String)
	e.Tags = driver.PayloadTags(e.Payload)
	e.FinishedAt, e.At = unixTime(completed), unixTime(completed)
	if queued.Valid {
		e.QueuedAt = unixTime(queued.Int64)
	}
	if available.Valid {
		e.AvailableAt = unixTime(available.Int64)
	}
	if started.Valid {
		e.StartedAt = unixTime(started.Int64)
	}
	return &e, nil
}

func (b *Base) searchCompleted(ctx context.Context, p *driver.JobSearchParams, limit int) ([]*driver.JobEntry, error) {
	var w where
	b.common(&w, p, p.After.Completed, "completed_at", unixArg)
	if p.Kind != "" {
		w.add("kind = ?", p.Kind)
	}
	query := "SELECT " + completedColumns + " FROM completed_jobs" + w.sql() + " ORDER BY id DESC LIMIT ?"
	rows, err := b.reader().QueryContext(ctx, b.q(query), append(w.args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("queue: search completed jobs: %w", err)
	}
	defer rows.Close()
	var out []*driver.JobEntry
	for rows.Next() {
		e, err := scanCompleted(rows)
		if err != nil {
			return nil, fmt.Errorf("queue: search completed jobs: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("queue: search completed jobs: %w", err)
	}
	return out, nil
}

// payloadKind is the job class named in a stored payload ("job").
func payloadKind(payload []byte) string {
	var p struct {
		Job string `json:"job"`
	}
	if json.Unmarshal(payload, &p) != nil {
		return ""
	}
	return p.Job
}

// EntryOfFailed is the JobEntry of a failed job.
func EntryOfFailed(f *driver.FailedJob) *driver.JobEntry {
	return &driver.JobEntry{
		State: driver.JobStateFailed, ID: f.ID, UUID: f.UUID, Queue: f.Queue, Kind: payloadKind(f.Payload),
		Tags: driver.PayloadTags(f.Payload), Payload: f.Payload, Error: f.Exception, Errors: driver.ParseErrorLog(f.ErrorLog),
		FinishedAt: f.FailedAt, At: f.FailedAt,
	}
}

func (b *Base) searchFailed(ctx context.Context, p *driver.JobSearchParams, limit int) ([]*driver.JobEntry, error) {
	var w where
	b.common(&w, p, p.After.Failed, "failed_at", func(t time.Time) any { return timestampArg(b.d(), t) })
	if p.Kind != "" {
		w.add("payload LIKE ? ESCAPE '!'", "%"+driver.LikeEscape(`"job":"`+p.Kind+`"`)+"%")
	}
	if p.Error != "" {
		w.add("exception LIKE ? ESCAPE '!'", "%"+driver.LikeEscape(p.Error)+"%")
	}
	query := "SELECT " + failedColumns + " FROM failed_jobs" + w.sql() + " ORDER BY id DESC LIMIT ?"
	rows, err := queryFailed(ctx, b.reader(), b.q(query), append(w.args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("queue: search failed jobs: %w", err)
	}
	out := make([]*driver.JobEntry, len(rows))
	for i, f := range rows {
		out[i] = EntryOfFailed(f)
	}
	return out, nil
}

// JobFind returns one job in whatever state it is: by its jobs id while
// it is in the queue, then by uuid among the completed jobs kept and the
// failed jobs.
func (b *Base) JobFind(ctx context.Context, p *driver.JobFindParams) (*driver.JobEntry, error) {
	if p == nil || p.UUID == "" {
		return nil, errors.New("queue: find job: no uuid")
	}
	if _, err := uuid.Parse(p.UUID); err != nil {
		return nil, driver.ErrNotFound
	}
	if p.JobID > 0 {
		now := b.nowExpr()
		row := b.reader().QueryRowContext(ctx, b.q("SELECT "+JobColumns+", CASE WHEN reserved_at IS NOT NULL THEN 'reserved' WHEN available_at > "+now+
			" THEN 'delayed' ELSE 'pending' END FROM jobs WHERE id = ?"), p.JobID)
		var state string
		j, err := ScanJob(scanPlus{row, &state})
		switch {
		case err == nil && j.UUID == p.UUID:
			e := EntryOfJob(j)
			e.State = state
			return e, nil
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return nil, fmt.Errorf("queue: find job %s: %w", p.UUID, err)
		}
	}
	e, err := b.FindHistory(ctx, p.UUID)
	if err != nil {
		return nil, err
	}
	return e, nil
}

// FindHistory returns a job by uuid among the completed jobs kept and the
// failed jobs, or driver.ErrNotFound.
func (b *Base) FindHistory(ctx context.Context, id string) (*driver.JobEntry, error) {
	row := b.reader().QueryRowContext(ctx, b.q("SELECT "+completedColumns+" FROM completed_jobs WHERE uuid = ? ORDER BY id DESC LIMIT 1"), id)
	e, err := scanCompleted(row)
	if err == nil {
		return e, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("queue: find job %s: %w", id, err)
	}
	f, err := b.FailedGet(ctx, id)
	if err != nil {
		return nil, err
	}
	return EntryOfFailed(f), nil
}

// TagMonitorList returns the monitored tags, sorted.
func (b *Base) TagMonitorList(ctx context.Context) ([]string, error) {
	rows, err := b.reader().QueryContext(ctx, "SELECT tag FROM queue_monitored_tags")
	if err != nil {
		return nil, fmt.Errorf("queue: list monitored tags: %w", err)
	}
	defer rows.Close()
	tags := []string{}
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, fmt.Errorf("queue: list monitored tags: %w", err)
		}
		tags = append(tags, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("queue: list monitored tags: %w", err)
	}
	sort.Strings(tags)
	return tags, nil
}

// TagMonitorAdd starts monitoring tag.
func (b *Base) TagMonitorAdd(ctx context.Context, tag string) error {
	if err := driver.ValidTag(tag); err != nil {
		return fmt.Errorf("queue: monitor tag: %w", err)
	}
	query := "INSERT INTO queue_monitored_tags (tag, created_at) VALUES (?, " + b.nowExpr() + ")"
	if b.d() == sqldb.MySQL {
		query += " ON DUPLICATE KEY UPDATE tag = tag"
	} else {
		query += " ON CONFLICT (tag) DO NOTHING"
	}
	if _, err := b.exec(ctx, query, tag); err != nil {
		return fmt.Errorf("queue: monitor tag %s: %w", tag, err)
	}
	return nil
}

// TagMonitorRemove stops monitoring tag.
func (b *Base) TagMonitorRemove(ctx context.Context, tag string) error {
	if _, err := b.exec(ctx, "DELETE FROM queue_monitored_tags WHERE tag = ?", tag); err != nil {
		return fmt.Errorf("queue: stop monitoring tag %s: %w", tag, err)
	}
	return nil
}
