package dbdriver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/tripintravel/tripin/queue/driver"
)

// Base prunes in chunks (driver.ChunkPruner). Each chunk is read on the
// read pool, then deleted in one short statement of its own, so that on
// SQLite the single writer connection is taken for one chunk at a time and
// on MySQL and PostgreSQL no statement locks more than a chunk of rows.
var (
	_ driver.ChunkPruner     = (*Base)(nil)
	_ driver.RateLimitPruner = (*Base)(nil)
)

// defaultPruneChunk is the chunk size when the params give none.
const defaultPruneChunk = 1000

func pruneChunk(n int) int {
	if n <= 0 {
		return defaultPruneChunk
	}
	return n
}

// JobMetricsPruneChunks deletes metric points older than OlderThan.
// job_metrics has no id: each chunk ends at the minute of its chunk-th
// oldest point, so a statement deletes at most a chunk plus the points of
// the other queues in that one minute. Each chunk's scan starts after the
// minute the last one ended at, so that it never walks the index entries
// of the rows already deleted (InnoDB and PostgreSQL keep them until purge
// or vacuum).
func (b *Base) JobMetricsPruneChunks(ctx context.Context, p *driver.PruneChunksParams) (int, error) {
	if p == nil {
		return 0, errors.New("queue: prune job metrics: no params")
	}
	chunk := pruneChunk(p.ChunkSize)
	at, err := b.cutoff(ctx, p.OlderThan)
	if err != nil {
		return 0, fmt.Errorf("queue: prune job metrics: %w", err)
	}
	cut := at.Unix()
	sel := b.q("SELECT minute FROM job_metrics WHERE minute > ? AND minute < ? ORDER BY minute LIMIT 1 OFFSET ?")
	after := int64(math.MinInt64)
	total := 0
	for {
		var bound int64
		err := b.reader().QueryRowContext(ctx, sel, after, cut, chunk-1).Scan(&bound)
		if errors.Is(err, sql.ErrNoRows) {
			// Less than a chunk is left: the last statement takes it all.
			n, err := b.exec(ctx, "DELETE FROM job_metrics WHERE minute > ? AND minute < ?", after, cut)
			if err != nil {
				return total, fmt.Errorf("queue: prune job metrics: %w", err)
			}
			return total + n, nil
		}
		if err != nil {
			return total, fmt.Errorf("queue: prune job metrics: %w", err)
		}
		n, err := b.exec(ctx, "DELETE FROM job_metrics WHERE minute > ? AND minute <= ?", after, bound)
		if err != nil {
			return total, fmt.Errorf("queue: prune job metrics: %w", err)
		}
		total += n
		after = bound
	}
}

// CompletedPruneChunks deletes completed-job history older than
// OlderThan, oldest first, by id. Each chunk's scan starts at the time the
// last one ended at, past the index entries of the rows already deleted.
func (b *Base) CompletedPruneChunks(ctx context.Context, p *driver.PruneChunksParams) (int, error) {
	if p == nil {
		return 0, errors.New("queue: prune completed jobs: no params")
	}
	chunk := pruneChunk(p.ChunkSize)
	at, err := b.cutoff(ctx, p.OlderThan)
	if err != nil {
		return 0, fmt.Errorf("queue: prune completed jobs: %w", err)
	}
	sel := b.q("SELECT id, completed_at FROM completed_jobs WHERE completed_at >= ? AND completed_at < ? AND " + b.completedPrunable() + " ORDER BY completed_at LIMIT ?")
	from := int64(math.MinInt64)
	total := 0
	for {
		ids, last, err := b.readIDsAndTimes(ctx, sel, from, at.Unix(), chunk)
		if err != nil || len(ids) == 0 {
			if err != nil {
				err = fmt.Errorf("queue: prune completed jobs: %w", err)
			}
			return total, err
		}
		n, err := b.exec(ctx, "DELETE FROM completed_jobs WHERE id IN ("+LiteralIDs(ids)+")")
		if err != nil {
			return total, fmt.Errorf("queue: prune completed jobs: %w", err)
		}
		total += n
		if len(ids) < chunk || n == 0 {
			return total, nil
		}
		from = last
	}
}

// BatchPruneChunks deletes the batches BatchPrune would, a chunk of ids
// at a time.
func (b *Base) BatchPruneChunks(ctx context.Context, p *driver.BatchPruneChunksParams) (int, error) {
	if p == nil {
		return 0, errors.New("queue: prune batches: no params")
	}
	chunk := pruneChunk(p.ChunkSize)
	now, err := b.DB.Now(ctx)
	if err != nil {
		return 0, fmt.Errorf("queue: prune batches: %w", err)
	}
	conds := []string{"(finished_at IS NOT NULL AND finished_at <= ?)"}
	args := []any{now.Add(-p.OlderThan).Unix()}
	if p.Unfinished > 0 {
		conds = append(conds, "(finished_at IS NULL AND created_at <= ?)")
		args = append(args, now.Add(-p.Unfinished).Unix())
	}
	if p.Cancelled > 0 {
		conds = append(conds, "(cancelled_at IS NOT NULL AND cancelled_at <= ?)")
		args = append(args, now.Add(-p.Cancelled).Unix())
	}
	sel := b.q("SELECT id FROM job_batches WHERE " + strings.Join(conds, " OR ") + " LIMIT ?")
	args = append(args, chunk)
	total := 0
	for {
		ids, err := b.readStrings(ctx, sel, args...)
		if err != nil || len(ids) == 0 {
			if err != nil {
				err = fmt.Errorf("queue: prune batches: %w", err)
			}
			return total, err
		}
		if err := b.pruneBatchOutcomes(ctx, ids, chunk); err != nil {
			return total, fmt.Errorf("queue: prune batches: %w", err)
		}
		n, err := b.exec(ctx, "DELETE FROM job_batches WHERE id IN ("+placeholders(len(ids))+")", ids...)
		if err != nil {
			return total, fmt.Errorf("queue: prune batches: %w", err)
		}
		total += n
		if len(ids) < chunk || n == 0 {
			return total, nil
		}
	}
}

// readIDsAndTimes reads (id, unix time) rows on the read pool and returns
// the ids and the latest time.
func (b *Base) readIDsAndTimes(ctx context.Context, query string, args ...any) ([]int64, int64, error) {
	rows, err := b.reader().QueryContext(ctx, query, args...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var (
		ids  []int64
		last int64
	)
	for rows.Next() {
		var id, at int64
		if err := rows.Scan(&id, &at); err != nil {
			return nil, 0, err
		}
		ids, last = append(ids, id), max(last, at)
	}
	return ids, last, rows.Err()
}

// readStrings reads string ids on the read pool, as statement arguments.
// pruneBatchOutcomes deletes the job outcomes of batches, chunk rows per
// statement, so that deleting a batch never cascades to more rows than
// that in one statement.
func (b *Base) pruneBatchOutcomes(ctx context.Context, batchIDs []any, chunk int) error {
	sel := b.q("SELECT batch_id, job_uuid FROM job_batch_outcomes WHERE batch_id IN (" + placeholders(len(batchIDs)) + ") LIMIT ?")
	args := append(batchIDs[:len(batchIDs):len(batchIDs)], chunk)
	for {
		rows, err := b.reader().QueryContext(ctx, sel, args...)
		if err != nil {
			return err
		}
		var keys []any
		var conds []string
		for rows.Next() {
			var batch, job string
			if err := rows.Scan(&batch, &job); err != nil {
				rows.Close()
				return err
			}
			keys = append(keys, batch, job)
			conds = append(conds, "(?, ?)")
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(conds) == 0 {
			return nil
		}
		if _, err := b.exec(ctx, "DELETE FROM job_batch_outcomes WHERE (batch_id, job_uuid) IN ("+strings.Join(conds, ", ")+")", keys...); err != nil {
			return err
		}
		if len(conds) < chunk {
			return nil
		}
	}
}

func (b *Base) readStrings(ctx context.Context, query string, args ...any) ([]any, error) {
	rows, err := b.reader().QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []any
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
