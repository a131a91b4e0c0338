package dbdriver

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/sqldb"
)

// Base keeps metrics and history (driver.Metrics) in job_metrics and
// completed_jobs.
var _ driver.Metrics = (*Base)(nil)

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

// completedChunk is how many completed jobs one INSERT writes: 14
// parameters each, far below every dialect's limit.
const completedChunk = 200

// CompletedRecord keeps completed jobs as history, in multi-row inserts
// of one transaction.
func (b *Base) CompletedRecord(ctx context.Context, jobs []*driver.CompletedJob) error {
	if len(jobs) == 0 {
		return nil
	}
	now := b.nowExpr()
	row := "(?, ?, ?, ?, ?, ?, COALESCE(?, " + now + "), ?, ?, ?, ?, ?, ?, ?)"
	if b.d() == sqldb.PgSQL {
		// PostgreSQL cannot type a bare NULL parameter inside COALESCE.
		row = "(?, ?, ?, ?, ?, ?, COALESCE(CAST(? AS BIGINT), " + now + "), ?, ?, ?, ?, ?, ?, CAST(? AS TEXT))"
	}
	err := b.DB.InTx(ctx, func(tx *sql.Tx) error {
		for start := 0; start < len(jobs); start += completedChunk {
			chunk := jobs[start:min(start+completedChunk, len(jobs))]
			var q strings.Builder
			q.WriteString(`INSERT INTO completed_jobs (uuid, queue, kind, attempts, runtime_ms, wait_ms, completed_at,
  job_id, payload, queued_at, available_at, started_at, kept_for, error_log) VALUES `)
			args := make([]any, 0, 14*len(chunk))
			for i, j := range chunk {
				if i > 0 {
					q.WriteByte(',')
				}
				q.WriteString(row)
				var payload any
				if len(j.Payload) > 0 {
					payload = string(j.Payload)
				}
				args = append(args, j.UUID, j.Queue, j.Kind, j.Attempts, j.RuntimeMS, j.WaitMS, UnixOrNil(j.CompletedAt),
					j.JobID, payload, UnixOrNil(j.QueuedAt), UnixOrNil(j.AvailableAt), UnixOrNil(j.StartedAt), Seconds(j.KeptFor), NullBytes(j.ErrorLog))
			}
			if _, err := tx.ExecContext(ctx, b.q(q.String()), args...); err != nil {
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

// completedPrunable is the condition of the completed jobs a prune may
// delete besides their age: those of monitored tags only once their own
// keep (kept_for seconds after completed_at) is over too.
func (b *Base) completedPrunable() string {
	return "(kept_for = 0 OR completed_at + kept_for < " + b.nowExpr() + ")"
}

// CompletedPrune deletes history older than olderThan.
func (b *Base) CompletedPrune(ctx context.Context, olderThan time.Duration) (int, error) {
	at, err := b.cutoff(ctx, olderThan)
	if err != nil {
		return 0, fmt.Errorf("queue: prune completed jobs: %w", err)
	}
	n, err := b.exec(ctx, "DELETE FROM completed_jobs WHERE completed_at < ? AND "+b.completedPrunable(), at.Unix())
	if err != nil {
		return 0, fmt.Errorf("queue: prune completed jobs: %w", err)
	}
	return n, nil
}
