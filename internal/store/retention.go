package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultPruneChunk is how many rows one prune statement deletes when
// PruneParams.ChunkSize is zero.
const DefaultPruneChunk = 1000

// PruneParams say which rows a prune deletes: those older than Before, at
// most ChunkSize (DefaultPruneChunk when zero) per statement.
//
// Every prune below works the same way, so that it never holds a lock for
// long on any backend: it reads the ids of the next chunk, oldest first, on
// the time column's index, then deletes exactly those ids in a transaction
// of its own, and repeats until a chunk comes back short. Each chunk's
// read starts at the time the previous chunk ended at, so that it does not
// walk the index entries of the rows just deleted again (InnoDB and
// PostgreSQL keep those until purge or vacuum). Deleting by a
// list of ids is the one form every dialect accepts (MySQL refuses LIMIT in
// a subquery of IN and a DELETE that reads its own table in a subquery;
// SQLite and PostgreSQL have no DELETE … LIMIT), and between two chunks
// the bookings and the workers have the tables to themselves: on SQLite,
// whose one writer connection everything queues for, a chunk is one short
// turn in that queue.
type PruneParams struct {
	Before    time.Time
	ChunkSize int
}

// IdempotencyKeyPrune deletes the idempotency keys created before
// p.Before, except those of bookings still pending: while a booking holds
// its seats, a client retrying its request must get that booking back,
// not a second one.
func (db *DB) IdempotencyKeyPrune(ctx context.Context, p PruneParams) (int64, error) {
	n, err := db.pruneChunks(ctx, pruneQuery{
		table: "idempotency_keys", column: "created_at", before: p.Before.UTC(),
		where: "NOT EXISTS (SELECT 1 FROM bookings b WHERE b.id = t.booking_id AND b.status = 'pending')",
	}, p.ChunkSize)
	if err != nil {
		return n, fmt.Errorf("store: prune idempotency keys: %w", err)
	}
	return n, nil
}

// SentEmailPrune deletes the records of booking emails sent before
// p.Before.
func (db *DB) SentEmailPrune(ctx context.Context, p PruneParams) (int64, error) {
	n, err := db.pruneChunks(ctx, pruneQuery{table: "sent_emails", column: "sent_at", before: p.Before.UTC()}, p.ChunkSize)
	if err != nil {
		return n, fmt.Errorf("store: prune sent emails: %w", err)
	}
	return n, nil
}

// PaymentNotificationPruneRejected deletes the payment notifications
// received before p.Before whose outcome is one of rejected. Each outcome
// is walked on its own (outcome, received_at) index range, so that a year
// of accepted notifications is never read to find them.
func (db *DB) PaymentNotificationPruneRejected(ctx context.Context, rejected []string, p PruneParams) (int64, error) {
	var total int64
	for _, outcome := range rejected {
		n, err := db.pruneChunks(ctx, pruneQuery{
			table: "payment_notifications", column: "received_at", before: p.Before.UTC(),
			where: "t.outcome = ?", args: []any{outcome},
		}, p.ChunkSize)
		total += n
		if err != nil {
			return total, fmt.Errorf("store: prune rejected payment notifications: %w", err)
		}
	}
	return total, nil
}

// PaymentNotificationPruneAccepted deletes the payment notifications
// received before p.Before whose outcome is not one of rejected: the
// payment audit trail, kept far longer than the rejected ones.
func (db *DB) PaymentNotificationPruneAccepted(ctx context.Context, rejected []string, p PruneParams) (int64, error) {
	pq := pruneQuery{table: "payment_notifications", column: "received_at", before: p.Before.UTC()}
	if len(rejected) > 0 {
		pq.where = "(t.outcome IS NULL OR t.outcome NOT IN (?" + strings.Repeat(", ?", len(rejected)-1) + "))"
		for _, o := range rejected {
			pq.args = append(pq.args, o)
		}
	}
	n, err := db.pruneChunks(ctx, pq, p.ChunkSize)
	if err != nil {
		return n, fmt.Errorf("store: prune accepted payment notifications: %w", err)
	}
	return n, nil
}

// OpsNotificationPrune deletes the operator notifications sent (to every
// configured channel, or skipped) before p.Before. Unsent ones stay: they
// are still to be delivered.
func (db *DB) OpsNotificationPrune(ctx context.Context, p PruneParams) (int64, error) {
	n, err := db.pruneChunks(ctx, pruneQuery{table: "ops_notifications", column: "sent_at", before: p.Before.Unix()}, p.ChunkSize)
	if err != nil {
		return n, fmt.Errorf("store: prune ops notifications: %w", err)
	}
	return n, nil
}

// ScheduleRunPrune deletes the scheduler's runs started before p.Before,
// except the latest run of each task: the dashboard's "last run" of a task
// that runs seldom must not go blank.
func (db *DB) ScheduleRunPrune(ctx context.Context, p PruneParams) (int64, error) {
	n, err := db.pruneChunks(ctx, pruneQuery{
		table: "schedule_runs", column: "started_at", before: p.Before.Unix(),
		where: "t.id NOT IN (SELECT MAX(id) FROM schedule_runs GROUP BY name)",
	}, p.ChunkSize)
	if err != nil {
		return n, fmt.Errorf("store: prune schedule runs: %w", err)
	}
	return n, nil
}

// TokenPruneExpired deletes the API and dashboard tokens that expired
// before p.Before. Tokens without an expiry are never pruned.
func (db *DB) TokenPruneExpired(ctx context.Context, p PruneParams) (int64, error) {
	n, err := db.pruneChunks(ctx, pruneQuery{table: "personal_access_tokens", column: "expires_at", before: p.Before.UTC()}, p.ChunkSize)
	if err != nil {
		return n, fmt.Errorf("store: prune expired tokens: %w", err)
	}
	return n, nil
}

// pruneQuery names the rows a prune deletes: those of table whose column
// (a time, indexed) is before before and which match where (conditions
// on the table's alias t, with args), oldest first. A NULL column never
// matches.
type pruneQuery struct {
	table, column string
	before        any
	where         string
	args          []any
}

// pruneChunks deletes the rows q names, chunk at a time. It returns the
// rows deleted so far, also when it fails part-way: every chunk before the
// failure is committed.
func (db *DB) pruneChunks(ctx context.Context, q pruneQuery, chunk int) (int64, error) {
	if chunk <= 0 {
		chunk = DefaultPruneChunk
	}
	var (
		total int64
		from  any // the time the last chunk ended at; nil before the first
	)
	for {
		sel := "SELECT t.id, t." + q.column + " FROM " + q.table + " t WHERE t." + q.column + " < ?"
		args := []any{q.before}
		if from != nil {
			sel += " AND t." + q.column + " >= ?"
			args = append(args, from)
		}
		if q.where != "" {
			sel += " AND " + q.where
			args = append(args, q.args...)
		}
		sel += " ORDER BY t." + q.column + " LIMIT ?"
		ids, last, err := db.pruneIDs(ctx, db.Rebind(sel), append(args, chunk))
		if err != nil || len(ids) == 0 {
			return total, err
		}
		var n int64
		err = db.InTx(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, "DELETE FROM "+q.table+" WHERE id IN ("+literalIDs(ids)+")")
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, err
		}
		total += n
		// A short chunk was the last one. A chunk of which nothing was
		// deleted means another prune got there first: it carries on.
		if len(ids) < chunk || n == 0 {
			return total, nil
		}
		// The rows of this chunk's last time that did not fit in it are
		// read again from there; everything before it is gone.
		from = last
	}
}

// pruneIDs reads one chunk: the ids, and the time column of the last row
// as the driver returned it, to be passed back as the next chunk's lower
// bound in the very form it is stored in. On SQLite it reads through the
// read pool, so that the single writer connection is only taken to delete.
func (db *DB) pruneIDs(ctx context.Context, q string, args []any) ([]int64, any, error) {
	rows, err := db.Read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var (
		ids  []int64
		last any
	)
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id, &last); err != nil {
			return nil, nil, err
		}
		ids = append(ids, id)
	}
	return ids, last, rows.Err()
}

// literalIDs renders ids as a comma-separated list of integers. The ids
// come from the database as integers, so they are safe in SQL text, and
// one statement text serves every dialect without a parameter per id.
func literalIDs(ids []int64) string {
	var b strings.Builder
	b.Grow(len(ids) * 8)
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(id, 10))
	}
	return b.String()
}
