package dbdriver

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/tripintravel/tripin/queue/driver"
)

// Base stores failed jobs (driver.FailedJobs) in failed_jobs.
var _ driver.FailedJobs = (*Base)(nil)

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

const failedColumns = "id, uuid, connection, queue, payload, exception, failed_at, error_log"

func scanFailed(rows interface{ Scan(...any) error }) (*driver.FailedJob, error) {
	var f driver.FailedJob
	var payload string
	if err := rows.Scan(&f.ID, &f.UUID, &f.Connection, &f.Queue, &payload, &f.Exception, &f.FailedAt, &f.ErrorLog); err != nil {
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
		if p.Progress != nil {
			p.Progress(total)
		}
		if len(ids) < chunk {
			return total, nil
		}
	}
}
