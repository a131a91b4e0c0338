package dbdriver

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tripintravel/tripin/queue/driver"
)

// Base stores batches (driver.Batches) in job_batches, and the outcome
// of each of their jobs in job_batch_outcomes.
var _ driver.Batches = (*Base)(nil)

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
