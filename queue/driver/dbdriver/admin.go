package dbdriver

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/sqldb"
)

// The operator's storage (driver.Admin) is written once for the three SQL
// dialects: the few expressions that differ come from the helpers below,
// keyed by the store's dialect, so that every driver embedding Base gets
// Admin without code of its own.
var _ driver.Admin = (*Base)(nil)

// NewAdmin returns the operator's storage on db without the claim and
// insert statements of a full driver: what the `queue failed`, `queue
// stats` … commands need.
func NewAdmin(db *sqldb.DB) driver.Admin {
	d := &Dialect{Store: db.Dialect, UnixNow: sqldb.UnixNowSQL(db.Dialect)}
	return NewBase(db, d, "database")
}

func forUpdate(d sqldb.Dialect) string {
	if d == sqldb.SQLite {
		return "" // the store's transactions are BEGIN IMMEDIATE: one writer
	}
	return " FOR UPDATE"
}

// timestampArg turns t into a parameter comparable with failed_jobs.failed_at.
func timestampArg(d sqldb.Dialect, t time.Time) any {
	if d == sqldb.SQLite {
		return t.UTC().Format(time.DateTime)
	}
	return t.UTC()
}

func (b *Base) d() sqldb.Dialect   { return b.DB.Dialect }
func (b *Base) q(s string) string  { return b.DB.Rebind(s) }
func (b *Base) nowExpr() string    { return sqldb.UnixNowSQL(b.d()) }
func (b *Base) keyCol() string     { return quoteKey(b.d()) }
func (b *Base) reader() *sql.DB    { return b.DB.Read }
func placeholders(n int) string    { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }
func unixTime(sec int64) time.Time { return time.Unix(sec, 0).UTC() }

// cutoff is the database clock minus age.
func (b *Base) cutoff(ctx context.Context, age time.Duration) (time.Time, error) {
	now, err := b.DB.Now(ctx)
	if err != nil {
		return time.Time{}, err
	}
	return now.Add(-age), nil
}

// splitIDs separates numeric row ids from uuids.
func splitIDs(idsOrUUIDs []string) (ids []any, uuids []any) {
	for _, s := range idsOrUUIDs {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			ids = append(ids, n)
			continue
		}
		uuids = append(uuids, s)
	}
	return ids, uuids
}

// failedMatch is the condition selecting failed rows by row id or uuid.
func failedMatch(idsOrUUIDs []string) (string, []any) {
	ids, uuids := splitIDs(idsOrUUIDs)
	var conds []string
	var args []any
	if len(ids) > 0 {
		conds = append(conds, "id IN ("+placeholders(len(ids))+")")
		args = append(args, ids...)
	}
	if len(uuids) > 0 {
		conds = append(conds, "uuid IN ("+placeholders(len(uuids))+")")
		args = append(args, uuids...)
	}
	if len(conds) == 0 {
		return "1 = 0", nil
	}
	return "(" + strings.Join(conds, " OR ") + ")", args
}

const failedColumns = "id, uuid, connection, queue, payload, exception, failed_at"

func scanFailed(rows interface{ Scan(...any) error }) (*driver.FailedJob, error) {
	var f driver.FailedJob
	var payload string
	if err := rows.Scan(&f.ID, &f.UUID, &f.Connection, &f.Queue, &payload, &f.Exception, &f.FailedAt); err != nil {
		return nil, err
	}
	f.Payload = []byte(payload)
	f.FailedAt = f.FailedAt.UTC()
	return &f, nil
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func queryFailed(ctx context.Context, q querier, query string, args ...any) ([]*driver.FailedJob, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*driver.FailedJob
	for rows.Next() {
		f, err := scanFailed(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// FailedList returns failed jobs, newest first.
func (b *Base) FailedList(ctx context.Context, p *driver.FailedListParams) ([]*driver.FailedJob, error) {
	if p == nil {
		p = &driver.FailedListParams{}
	}
	query := "SELECT " + failedColumns + " FROM failed_jobs"
	var args []any
	if p.Queue != "" {
		query += " WHERE queue = ?"
		args = append(args, p.Queue)
	}
	query += " ORDER BY failed_at DESC, id DESC"
	if p.Limit > 0 || p.Offset > 0 {
		limit := p.Limit
		if limit <= 0 {
			limit = 1 << 30
		}
		query += " LIMIT ? OFFSET ?"
		args = append(args, limit, max(p.Offset, 0))
	}
	out, err := queryFailed(ctx, b.reader(), b.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("queue: list failed jobs: %w", err)
	}
	return out, nil
}

// FailedCount counts failed jobs, of one queue when queue is set.
func (b *Base) FailedCount(ctx context.Context, queue string) (int, error) {
	query, args := "SELECT COUNT(*) FROM failed_jobs", []any(nil)
	if queue != "" {
		query += " WHERE queue = ?"
		args = append(args, queue)
	}
	var n int
	if err := b.reader().QueryRowContext(ctx, b.q(query), args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("queue: count failed jobs: %w", err)
	}
	return n, nil
}

// FailedGet returns one failed job by row id or uuid.
func (b *Base) FailedGet(ctx context.Context, idOrUUID string) (*driver.FailedJob, error) {
	cond, args := failedMatch([]string{idOrUUID})
	out, err := queryFailed(ctx, b.reader(), b.q("SELECT "+failedColumns+" FROM failed_jobs WHERE "+cond), args...)
	if err != nil {
		return nil, fmt.Errorf("queue: get failed job %s: %w", idOrUUID, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("queue: failed job %s: %w", idOrUUID, driver.ErrNotFound)
	}
	return out[0], nil
}

// RetryJob is what a failed job's payload says about the job to put back
// on its queue.
type RetryJob struct {
	Kind        string
	MaxAttempts int
	BatchID     string
}

// RetryJobOf reads the job to rebuild from a failed job's payload: every
// driver's FailedRetry puts it back the same way. defaultMaxAttempts
// applies when the payload sets no maxTries.
func RetryJobOf(f *driver.FailedJob, defaultMaxAttempts int) (RetryJob, error) {
	var p struct {
		Job      string `json:"job"`
		MaxTries *int   `json:"maxTries"`
		BatchID  string `json:"batchId"`
	}
	if err := json.Unmarshal(f.Payload, &p); err != nil {
		return RetryJob{}, fmt.Errorf("failed job %d: decode payload: %w", f.ID, err)
	}
	if p.Job == "" {
		return RetryJob{}, fmt.Errorf("failed job %d: payload names no job", f.ID)
	}
	r := RetryJob{Kind: p.Job, MaxAttempts: max(defaultMaxAttempts, 0), BatchID: p.BatchID}
	if p.MaxTries != nil {
		r.MaxAttempts = max(*p.MaxTries, 0)
	}
	return r, nil
}

// FailedRetry moves failed jobs back to jobs, attempts reset, deleting
// their failed rows in the same transaction.
func (b *Base) FailedRetry(ctx context.Context, p *driver.FailedRetryParams) ([]*driver.FailedJob, error) {
	if p == nil || (!p.All && len(p.IDs) == 0) {
		return nil, errors.New("queue: retry failed jobs: no ids given")
	}
	var conds []string
	var args []any
	if !p.All {
		c, a := failedMatch(p.IDs)
		conds, args = append(conds, c), append(args, a...)
	}
	if p.Queue != "" {
		conds, args = append(conds, "queue = ?"), append(args, p.Queue)
	}
	sel := "SELECT " + failedColumns + " FROM failed_jobs"
	if len(conds) > 0 {
		sel += " WHERE " + strings.Join(conds, " AND ")
	}
	sel += " ORDER BY id" + forUpdate(b.d())
	now := b.nowExpr()
	ins := b.q(`INSERT INTO jobs (queue, payload, attempts, available_at, created_at, uuid, kind, max_attempts, batch_id)
VALUES (?, ?, 0, ` + now + `, ` + now + `, ?, ?, ?, ?)`)
	del := b.q("DELETE FROM failed_jobs WHERE id = ?")
	var moved []*driver.FailedJob
	err := b.DB.InTx(ctx, func(tx *sql.Tx) error {
		rows, err := queryFailed(ctx, tx, b.q(sel), args...)
		if err != nil {
			return err
		}
		moved = rows
		for _, f := range rows {
			r, err := RetryJobOf(f, p.DefaultMaxAttempts)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, ins, f.Queue, string(f.Payload), f.UUID, r.Kind, r.MaxAttempts, NullString(r.BatchID)); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, del, f.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("queue: retry failed jobs: %w", err)
	}
	return moved, nil
}

// FailedForget deletes failed jobs by row id or uuid.
func (b *Base) FailedForget(ctx context.Context, idsOrUUIDs []string) (int, error) {
	cond, args := failedMatch(idsOrUUIDs)
	n, err := b.exec(ctx, "DELETE FROM failed_jobs WHERE "+cond, args...)
	if err != nil {
		return 0, fmt.Errorf("queue: forget failed jobs: %w", err)
	}
	return n, nil
}

func (b *Base) exec(ctx context.Context, query string, args ...any) (int, error) {
	var n int64
	err := Retry(ctx, func() error {
		res, err := b.DB.ExecContext(ctx, b.q(query), args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// FailedFlush deletes every failed job, or those older than OlderThan.
func (b *Base) FailedFlush(ctx context.Context, p *driver.FailedFlushParams) (int, error) {
	query, args := "DELETE FROM failed_jobs", []any(nil)
	if p != nil && p.OlderThan > 0 {
		at, err := b.cutoff(ctx, p.OlderThan)
		if err != nil {
			return 0, fmt.Errorf("queue: flush failed jobs: %w", err)
		}
		query += " WHERE failed_at < ?"
		args = append(args, timestampArg(b.d(), at))
	}
	n, err := b.exec(ctx, query, args...)
	if err != nil {
		return 0, fmt.Errorf("queue: flush failed jobs: %w", err)
	}
	return n, nil
}

// FailedPrune deletes failed jobs older than OlderThan, ChunkSize rows at
// a time.
func (b *Base) FailedPrune(ctx context.Context, p *driver.FailedPruneParams) (int, error) {
	if p == nil {
		p = &driver.FailedPruneParams{}
	}
	chunk := p.ChunkSize
	if chunk <= 0 {
		chunk = 1000
	}
	at, err := b.cutoff(ctx, p.OlderThan)
	if err != nil {
		return 0, fmt.Errorf("queue: prune failed jobs: %w", err)
	}
	sel := b.q("SELECT id FROM failed_jobs WHERE failed_at < ? ORDER BY id LIMIT ?")
	total := 0
	for {
		ids, err := b.ids(ctx, sel, timestampArg(b.d(), at), chunk)
		if err != nil {
			return total, fmt.Errorf("queue: prune failed jobs: %w", err)
		}
		if len(ids) == 0 {
			return total, nil
		}
		n, err := b.exec(ctx, "DELETE FROM failed_jobs WHERE id IN ("+LiteralIDs(ids)+")")
		if err != nil {
			return total, fmt.Errorf("queue: prune failed jobs: %w", err)
		}
		total += n
		if len(ids) < chunk {
			return total, nil
		}
	}
}

func (b *Base) ids(ctx context.Context, query string, args ...any) ([]int64, error) {
	rows, err := b.DB.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// QueueClear deletes every job of queue.
func (b *Base) QueueClear(ctx context.Context, queue string) (int, error) {
	n, err := b.exec(ctx, "DELETE FROM jobs WHERE queue = ?", queue)
	if err != nil {
		return 0, fmt.Errorf("queue: clear %s: %w", queue, err)
	}
	return n, nil
}

// QueueStats counts each queue's jobs by state at one instant of the
// database clock.
func (b *Base) QueueStats(ctx context.Context, p *driver.QueueStatsParams) ([]*driver.QueueStat, error) {
	now, err := b.DB.Now(ctx)
	if err != nil {
		return nil, fmt.Errorf("queue: stats: %w", err)
	}
	sec := now.Unix()
	stats := map[string]*driver.QueueStat{}
	get := func(q string) *driver.QueueStat {
		s, ok := stats[q]
		if !ok {
			s = &driver.QueueStat{Queue: q}
			stats[q] = s
		}
		return s
	}
	if p != nil {
		for _, q := range p.Queues {
			get(q)
		}
	}
	rows, err := b.reader().QueryContext(ctx, b.q(`SELECT queue,
  COUNT(CASE WHEN reserved_at IS NULL AND available_at <= ? THEN 1 END),
  COUNT(CASE WHEN reserved_at IS NULL AND available_at > ? THEN 1 END),
  COUNT(CASE WHEN reserved_at IS NOT NULL THEN 1 END),
  MIN(CASE WHEN reserved_at IS NULL AND available_at <= ? THEN available_at END)
FROM jobs GROUP BY queue`), sec, sec, sec)
	if err != nil {
		return nil, fmt.Errorf("queue: stats: %w", err)
	}
	for rows.Next() {
		var q string
		var pending, delayed, reserved int
		var oldest sql.NullInt64
		if err := rows.Scan(&q, &pending, &delayed, &reserved, &oldest); err != nil {
			rows.Close()
			return nil, fmt.Errorf("queue: stats: %w", err)
		}
		s := get(q)
		s.Pending, s.Delayed, s.Reserved = pending, delayed, reserved
		if oldest.Valid && oldest.Int64 <= sec {
			s.OldestWait = time.Duration(sec-oldest.Int64) * time.Second
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("queue: stats: %w", err)
	}
	rows, err = b.reader().QueryContext(ctx, "SELECT queue, COUNT(*) FROM failed_jobs GROUP BY queue")
	if err != nil {
		return nil, fmt.Errorf("queue: stats: %w", err)
	}
	for rows.Next() {
		var q string
		var n int
		if err := rows.Scan(&q, &n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("queue: stats: %w", err)
		}
		get(q).Failed = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("queue: stats: %w", err)
	}
	paused, err := b.QueuePausedList(ctx)
	if err != nil {
		return nil, err
	}
	for _, ps := range paused {
		get(ps.Queue).Paused = true
	}
	out := make([]*driver.QueueStat, 0, len(stats))
	for _, s := range stats {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *driver.QueueStat) int { return strings.Compare(a.Queue, b.Queue) })
	return out, nil
}

// QueuePause records a pause of queue.
func (b *Base) QueuePause(ctx context.Context, queue, by string) error {
	if queue == "" {
		return errors.New("queue: pause: empty queue name")
	}
	query := "INSERT INTO queue_pauses (queue, paused_at, paused_by) VALUES (?, " + b.nowExpr() + ", ?)"
	if b.d() == sqldb.MySQL {
		query += " ON DUPLICATE KEY UPDATE queue = queue"
	} else {
		query += " ON CONFLICT (queue) DO NOTHING"
	}
	if _, err := b.exec(ctx, query, queue, by); err != nil {
		return fmt.Errorf("queue: pause %s: %w", queue, err)
	}
	return nil
}

// QueueResume lifts the pause of queue.
func (b *Base) QueueResume(ctx context.Context, queue string) error {
	if _, err := b.exec(ctx, "DELETE FROM queue_pauses WHERE queue = ?", queue); err != nil {
		return fmt.Errorf("queue: resume %s: %w", queue, err)
	}
	return nil
}

// QueuePausedList returns the paused queues by name.
func (b *Base) QueuePausedList(ctx context.Context) ([]*driver.QueuePause, error) {
	rows, err := b.reader().QueryContext(ctx, "SELECT queue, paused_at, paused_by FROM queue_pauses ORDER BY queue")
	if err != nil {
		return nil, fmt.Errorf("queue: list paused queues: %w", err)
	}
	defer rows.Close()
	var out []*driver.QueuePause
	for rows.Next() {
		var p driver.QueuePause
		var at int64
		if err := rows.Scan(&p.Queue, &at, &p.PausedBy); err != nil {
			return nil, fmt.Errorf("queue: list paused queues: %w", err)
		}
		p.PausedAt = unixTime(at)
		out = append(out, &p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("queue: list paused queues: %w", err)
	}
	return out, nil
}

const batchColumns = "id, name, total_jobs, pending_jobs, failed_jobs, failed_job_ids, options, cancelled_at, created_at, finished_at"

func scanBatch(row interface{ Scan(...any) error }) (*driver.Batch, error) {
	var (
		bt                  driver.Batch
		failedIDs           string
		options             sql.NullString
		cancelled, finished sql.NullInt64
		created             int64
	)
	if err := row.Scan(&bt.ID, &bt.Name, &bt.TotalJobs, &bt.PendingJobs, &bt.FailedJobs, &failedIDs, &options, &cancelled, &created, &finished); err != nil {
		return nil, err
	}
	bt.FailedJobIDs = decodeIDs(failedIDs)
	if options.Valid && options.String != "" {
		bt.Options = []byte(options.String)
	}
	bt.CreatedAt = unixTime(created)
	if cancelled.Valid {
		t := unixTime(cancelled.Int64)
		bt.CancelledAt = &t
	}
	if finished.Valid {
		t := unixTime(finished.Int64)
		bt.FinishedAt = &t
	}
	return &bt, nil
}

// decodeIDs reads failed_job_ids, a JSON array of uuids (Laravel's
// format); anything unreadable reads as empty rather than failing the
// whole listing.
func decodeIDs(s string) []string {
	out := []string{}
	if s == "" {
		return out
	}
	_ = json.Unmarshal([]byte(s), &out)
	if out == nil {
		out = []string{}
	}
	return out
}

func encodeIDs(ids []string) string {
	if ids == nil {
		ids = []string{}
	}
	b, _ := json.Marshal(ids)
	return string(b)
}

type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (b *Base) batchGet(ctx context.Context, q rowQuerier, id, suffix string) (*driver.Batch, error) {
	bt, err := scanBatch(q.QueryRowContext(ctx, b.q("SELECT "+batchColumns+" FROM job_batches WHERE id = ?"+suffix), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("batch %s: %w", id, driver.ErrNotFound)
	}
	return bt, err
}

// BatchCreate stores a new batch.
func (b *Base) BatchCreate(ctx context.Context, p *driver.BatchCreateParams) (*driver.Batch, error) {
	var bt *driver.Batch
	err := b.DB.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		bt, err = b.batchCreate(ctx, tx, p)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("queue: create batch: %w", err)
	}
	return bt, nil
}

// BatchCreateTx stores a new batch within tx.
func (b *Base) BatchCreateTx(ctx context.Context, tx *sql.Tx, p *driver.BatchCreateParams) (*driver.Batch, error) {
	bt, err := b.batchCreate(ctx, tx, p)
	if err != nil {
		return nil, fmt.Errorf("queue: create batch: %w", err)
	}
	return bt, nil
}

func (b *Base) batchCreate(ctx context.Context, tx *sql.Tx, p *driver.BatchCreateParams) (*driver.Batch, error) {
	if p == nil || p.ID == "" {
		return nil, errors.New("empty batch id")
	}
	var options any
	if len(p.Options) > 0 {
		options = string(p.Options)
	}
	_, err := tx.ExecContext(ctx, b.q(`INSERT INTO job_batches (id, name, total_jobs, pending_jobs, failed_jobs, failed_job_ids, options, created_at)
VALUES (?, ?, ?, ?, 0, '[]', ?, `+b.nowExpr()+`)`), p.ID, p.Name, p.TotalJobs, p.TotalJobs, options)
	if err != nil {
		return nil, err
	}
	return b.batchGet(ctx, tx, p.ID, "")
}

// BatchGet returns one batch.
func (b *Base) BatchGet(ctx context.Context, id string) (*driver.Batch, error) {
	bt, err := b.batchGet(ctx, b.reader(), id, "")
	if err != nil {
		return nil, fmt.Errorf("queue: get batch: %w", err)
	}
	return bt, nil
}

// BatchList returns batches, newest first.
func (b *Base) BatchList(ctx context.Context, p *driver.BatchListParams) ([]*driver.Batch, error) {
	if p == nil {
		p = &driver.BatchListParams{}
	}
	query := "SELECT " + batchColumns + " FROM job_batches ORDER BY created_at DESC, id DESC"
	var args []any
	if p.Limit > 0 || p.Offset > 0 {
		limit := p.Limit
		if limit <= 0 {
			limit = 1 << 30
		}
		query += " LIMIT ? OFFSET ?"
		args = append(args, limit, max(p.Offset, 0))
	}
	rows, err := b.reader().QueryContext(ctx, b.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("queue: list batches: %w", err)
	}
	defer rows.Close()
	var out []*driver.Batch
	for rows.Next() {
		bt, err := scanBatch(rows)
		if err != nil {
			return nil, fmt.Errorf("queue: list batches: %w", err)
		}
		out = append(out, bt)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("queue: list batches: %w", err)
	}
	return out, nil
}

// BatchCancel marks a batch cancelled and finished.
func (b *Base) BatchCancel(ctx context.Context, id string) (*driver.Batch, error) {
	now := b.nowExpr()
	var bt *driver.Batch
	err := b.DB.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, b.q(`UPDATE job_batches SET cancelled_at = COALESCE(cancelled_at, `+now+`),
  finished_at = COALESCE(finished_at, `+now+`) WHERE id = ?`), id); err != nil {
			return err
		}
		var err error
		bt, err = b.batchGet(ctx, tx, id, "")
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("queue: cancel batch: %w", err)
	}
	return bt, nil
}

// BatchRecordOutcome updates a batch's counters for one job, under the
// batch row's lock, once per job: the job's row in job_batch_outcomes
// says whether its outcome was recorded already. A job recorded as failed
// that succeeds (retried from failed_jobs) moves from failed to succeeded;
// anything else recorded twice changes nothing. p.Then runs in the same
// transaction when the counters moved.
func (b *Base) BatchRecordOutcome(ctx context.Context, p *driver.BatchRecordOutcomeParams) (*driver.BatchOutcome, error) {
	now := b.nowExpr()
	var out *driver.BatchOutcome
	err := b.DB.InTx(ctx, func(tx *sql.Tx) error {
		bt, err := b.batchGet(ctx, tx, p.BatchID, forUpdate(b.d()))
		if err != nil {
			return err
		}
		before := driver.BatchCounts{PendingJobs: bt.PendingJobs, FailedJobs: bt.FailedJobs}
		if p.Held != nil {
			held, err := p.Held(ctx, tx)
			if err != nil {
				return err
			}
			if !held {
				out = &driver.BatchOutcome{Before: before, Batch: bt}
				return nil
			}
		}
		var wasFailed bool
		err = tx.QueryRowContext(ctx, b.q("SELECT failed FROM job_batch_outcomes WHERE batch_id = ? AND job_uuid = ?"), p.BatchID, p.JobUUID).Scan(&wasFailed)
		seen := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if seen && (wasFailed == p.Failed || !wasFailed) {
			// Recorded already, or it succeeded once: the first success
			// stands.
			out = &driver.BatchOutcome{Before: before, Batch: bt}
			return nil
		}
		if seen {
			_, err = tx.ExecContext(ctx, b.q("UPDATE job_batch_outcomes SET failed = ?, recorded_at = "+now+" WHERE batch_id = ? AND job_uuid = ?"), p.Failed, p.BatchID, p.JobUUID)
		} else {
			_, err = tx.ExecContext(ctx, b.q("INSERT INTO job_batch_outcomes (batch_id, job_uuid, failed, recorded_at) VALUES (?, ?, ?, "+now+")"), p.BatchID, p.JobUUID, p.Failed)
		}
		if err != nil {
			return err
		}
		pending, failed, ids := bt.PendingJobs, bt.FailedJobs, bt.FailedJobIDs
		var set []string
		if p.Failed {
			failed++
			if !slices.Contains(ids, p.JobUUID) {
				ids = append(ids, p.JobUUID)
			}
			if p.CancelOnFailure && failed == 1 {
				set = append(set, "cancelled_at = COALESCE(cancelled_at, "+now+")", "finished_at = COALESCE(finished_at, "+now+")")
			}
		} else {
			pending = max(pending-1, 0)
			ids = slices.DeleteFunc(ids, func(s string) bool { return s == p.JobUUID })
			if pending == 0 {
				set = append(set, "finished_at = COALESCE(finished_at, "+now+")")
			}
		}
		set = append(set, "pending_jobs = ?", "failed_jobs = ?", "failed_job_ids = ?")
		if _, err := tx.ExecContext(ctx, b.q("UPDATE job_batches SET "+strings.Join(set, ", ")+" WHERE id = ?"),
			pending, failed, encodeIDs(ids), p.BatchID); err != nil {
			return err
		}
		after, err := b.batchGet(ctx, tx, p.BatchID, "")
		if err != nil {
			return err
		}
		out = &driver.BatchOutcome{Before: before, Batch: after, Recorded: true}
		if p.Then != nil {
			return p.Then(ctx, tx, out)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("queue: record batch outcome: %w", err)
	}
	return out, nil
}

// BatchPrune deletes old batches.
func (b *Base) BatchPrune(ctx context.Context, p *driver.BatchPruneParams) (int, error) {
	if p == nil {
		p = &driver.BatchPruneParams{}
	}
	// In chunks, with their job outcomes first, so that no statement
	// deletes more than a chunk of rows.
	return b.BatchPruneChunks(ctx, &driver.BatchPruneChunksParams{BatchPruneParams: *p})
}

// LockAcquire takes key for owner: an expired lock, or one owner already
// holds (a job redelivered after its worker died), is taken over.
func (b *Base) LockAcquire(ctx context.Context, p *driver.LockAcquireParams) (bool, error) {
	now, k := b.nowExpr(), b.keyCol()
	ttl := max(Seconds(p.TTL), 1)
	ins := "INSERT INTO cache_locks (" + k + ", owner, expiration) VALUES (?, ?, " + now + " + ?)"
	if b.d() == sqldb.MySQL {
		ins += " ON DUPLICATE KEY UPDATE owner = owner"
	} else {
		ins += " ON CONFLICT (" + k + ") DO NOTHING"
	}
	var ok bool
	err := Retry(ctx, func() error {
		if _, err := b.DB.ExecContext(ctx, b.q("DELETE FROM cache_locks WHERE "+k+" = ? AND (expiration <= "+now+" OR owner = ?)"), p.Key, p.Owner); err != nil {
			return err
		}
		res, err := b.DB.ExecContext(ctx, b.q(ins), p.Key, p.Owner, ttl)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		ok = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("queue: acquire lock %s: %w", p.Key, err)
	}
	return ok, nil
}

// LockOwner returns the owner of a lock that has not expired.
func (b *Base) LockOwner(ctx context.Context, key string) (string, bool, error) {
	var owner string
	err := b.DB.QueryRowContext(ctx, b.q("SELECT owner FROM cache_locks WHERE "+b.keyCol()+" = ? AND expiration > "+b.nowExpr()), key).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("queue: lock owner %s: %w", key, err)
	}
	return owner, true, nil
}

// LockRelease frees key if owner holds it.
func (b *Base) LockRelease(ctx context.Context, key, owner string) error {
	if _, err := b.exec(ctx, "DELETE FROM cache_locks WHERE "+b.keyCol()+" = ? AND owner = ?", key, owner); err != nil {
		return fmt.Errorf("queue: release lock %s: %w", key, err)
	}
	return nil
}

// RateLimitHit counts a hit in the current fixed window of Period, by the
// database clock. The row's expires_at is the end of its window, which is
// what RateLimitPrune goes by.
//
// The upsert takes the row's lock on every dialect (on PostgreSQL a
// conflict that only did nothing would not), so that between it and the
// SELECT … FOR UPDATE a prune cannot delete the row; a row gone anyway is
// written again.
func (b *Base) RateLimitHit(ctx context.Context, p *driver.RateLimitHitParams) (*driver.RateLimitResult, error) {
	period := max(Seconds(p.Period), 1)
	if p.Limit <= 0 {
		return nil, fmt.Errorf("queue: rate limit %s: limit %d: want > 0", p.Key, p.Limit)
	}
	ins := "INSERT INTO queue_rate_limits (name, window_start, hits) VALUES (?, 0, 0)"
	if b.d() == sqldb.MySQL {
		ins += " ON DUPLICATE KEY UPDATE name = name"
	} else {
		ins += " ON CONFLICT (name) DO UPDATE SET hits = queue_rate_limits.hits"
	}
	var out driver.RateLimitResult
	err := b.DB.InTx(ctx, func(tx *sql.Tx) error {
		var now int64
		if err := tx.QueryRowContext(ctx, "SELECT "+b.nowExpr()).Scan(&now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, b.q(ins), p.Key); err != nil {
			return err
		}
		var start int64
		var hits int
		if err := tx.QueryRowContext(ctx, b.q("SELECT window_start, hits FROM queue_rate_limits WHERE name = ?"+forUpdate(b.d())), p.Key).Scan(&start, &hits); err != nil {
			return err
		}
		window := now - now%period
		if start != window {
			start, hits = window, 0
		}
		out = driver.RateLimitResult{}
		if hits < p.Limit {
			hits++
			out.Allowed, out.Remaining = true, p.Limit-hits
		} else {
			out.RetryAfter = time.Duration(start+period-now) * time.Second
		}
		_, err := tx.ExecContext(ctx, b.q("UPDATE queue_rate_limits SET window_start = ?, hits = ?, expires_at = ? WHERE name = ?"),
			start, hits, start+period, p.Key)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("queue: rate limit %s: %w", p.Key, err)
	}
	return &out, nil
}

// RateLimitPrune deletes the limiter rows whose window ended more than
// OlderThan before the database's now, at most ChunkSize per statement. Such a row counts
// nothing any more: the next hit on its key would start a new window
// anyway. Each DELETE checks the end again, so a row that a hit moved into
// a new window after it was read is kept. Rows without an end (written
// before expires_at existed) are kept until their next hit gives them one.
func (b *Base) RateLimitPrune(ctx context.Context, p *driver.PruneChunksParams) (int, error) {
	chunk := pruneChunk(p.ChunkSize)
	total := 0
	for {
		var now int64
		if err := b.reader().QueryRowContext(ctx, "SELECT "+b.nowExpr()).Scan(&now); err != nil {
			return total, fmt.Errorf("queue: prune rate limits: %w", err)
		}
		now -= max(Seconds(p.OlderThan), 0)
		rows, err := b.reader().QueryContext(ctx, b.q("SELECT name FROM queue_rate_limits WHERE expires_at < ? ORDER BY expires_at LIMIT ?"), now, chunk)
		if err != nil {
			return total, fmt.Errorf("queue: prune rate limits: %w", err)
		}
		var names []any
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				rows.Close()
				return total, fmt.Errorf("queue: prune rate limits: %w", err)
			}
			names = append(names, name)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return total, fmt.Errorf("queue: prune rate limits: %w", err)
		}
		if len(names) == 0 {
			return total, nil
		}
		n, err := b.exec(ctx, "DELETE FROM queue_rate_limits WHERE expires_at < ? AND name IN (?"+strings.Repeat(", ?", len(names)-1)+")",
			append([]any{now}, names...)...)
		total += n
		if err != nil {
			return total, fmt.Errorf("queue: prune rate limits: %w", err)
		}
		if len(names) < chunk || n == 0 {
			return total, nil
		}
	}
}

// JobMetricsRecord adds points to job_metrics.
func (b *Base) JobMetricsRecord(ctx context.Context, points []*driver.JobMetric) error {
	if len(points) == 0 {
		return nil
	}
	query := "INSERT INTO job_metrics (queue, minute, processed, failed, runtime_ms, max_wait_ms) VALUES (?, ?, ?, ?, ?, ?)"
	switch b.d() {
	case sqldb.MySQL:
		query += ` ON DUPLICATE KEY UPDATE processed = processed + VALUES(processed), failed = failed + VALUES(failed),
  runtime_ms = runtime_ms + VALUES(runtime_ms), max_wait_ms = GREATEST(max_wait_ms, VALUES(max_wait_ms))`
	default:
		greatest := "GREATEST"
		if b.d() == sqldb.SQLite {
			greatest = "MAX"
		}
		query += ` ON CONFLICT (queue, minute) DO UPDATE SET processed = job_metrics.processed + excluded.processed,
  failed = job_metrics.failed + excluded.failed, runtime_ms = job_metrics.runtime_ms + excluded.runtime_ms,
  max_wait_ms = ` + greatest + `(job_metrics.max_wait_ms, excluded.max_wait_ms)`
	}
	query = b.q(query)
	err := b.DB.InTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, query)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, m := range points {
			minute := m.Minute.Unix() - m.Minute.Unix()%60
			if _, err := stmt.ExecContext(ctx, m.Queue, minute, m.Processed, m.Failed, m.RuntimeMS, m.MaxWaitMS); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("queue: record job metrics: %w", err)
	}
	return nil
}

// JobMetricsList returns metrics since p.Since, oldest first.
func (b *Base) JobMetricsList(ctx context.Context, p *driver.JobMetricsListParams) ([]*driver.JobMetric, error) {
	if p == nil {
		p = &driver.JobMetricsListParams{}
	}
	query := "SELECT queue, minute, processed, failed, runtime_ms, max_wait_ms FROM job_metrics WHERE minute >= ?"
	args := []any{p.Since.Unix() - p.Since.Unix()%60}
	if p.Since.IsZero() {
		args[0] = int64(0)
	}
	if p.Queue != "" {
		query += " AND queue = ?"
		args = append(args, p.Queue)
	}
	query += " ORDER BY minute, queue"
	rows, err := b.reader().QueryContext(ctx, b.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("queue: list job metrics: %w", err)
	}
	defer rows.Close()
	var out []*driver.JobMetric
	for rows.Next() {
		var m driver.JobMetric
		var minute int64
		if err := rows.Scan(&m.Queue, &minute, &m.Processed, &m.Failed, &m.RuntimeMS, &m.MaxWaitMS); err != nil {
			return nil, fmt.Errorf("queue: list job metrics: %w", err)
		}
		m.Minute = unixTime(minute)
		out = append(out, &m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("queue: list job metrics: %w", err)
	}
	return out, nil
}

// JobMetricsPrune deletes metrics older than olderThan.
func (b *Base) JobMetricsPrune(ctx context.Context, olderThan time.Duration) (int, error) {
	at, err := b.cutoff(ctx, olderThan)
	if err != nil {
		return 0, fmt.Errorf("queue: prune job metrics: %w", err)
	}
	n, err := b.exec(ctx, "DELETE FROM job_metrics WHERE minute < ?", at.Unix())
	if err != nil {
		return 0, fmt.Errorf("queue: prune job metrics: %w", err)
	}
	return n, nil
}

// CompletedRecord keeps completed jobs as history.
func (b *Base) CompletedRecord(ctx context.Context, jobs []*driver.CompletedJob) error {
	if len(jobs) == 0 {
		return nil
	}
	query := b.q("INSERT INTO completed_jobs (uuid, queue, kind, attempts, runtime_ms, wait_ms, completed_at) VALUES (?, ?, ?, ?, ?, ?, COALESCE(?, " + b.nowExpr() + "))")
	if b.d() == sqldb.PgSQL {
		// PostgreSQL cannot type a bare NULL parameter inside COALESCE.
		query = strings.Replace(query, "COALESCE($7, ", "COALESCE($7::bigint, ", 1)
	}
	err := b.DB.InTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, query)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, j := range jobs {
			if _, err := stmt.ExecContext(ctx, j.UUID, j.Queue, j.Kind, j.Attempts, j.RuntimeMS, j.WaitMS, UnixOrNil(j.CompletedAt)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("queue: record completed jobs: %w", err)
	}
	return nil
}

// CompletedPrune deletes history older than olderThan.
func (b *Base) CompletedPrune(ctx context.Context, olderThan time.Duration) (int, error) {
	at, err := b.cutoff(ctx, olderThan)
	if err != nil {
		return 0, fmt.Errorf("queue: prune completed jobs: %w", err)
	}
	n, err := b.exec(ctx, "DELETE FROM completed_jobs WHERE completed_at < ?", at.Unix())
	if err != nil {
		return 0, fmt.Errorf("queue: prune completed jobs: %w", err)
	}
	return n, nil
}
