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
// of its own, and repeats until a chunk comes back short. Deleting by a
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
	const q = `SELECT k.id FROM idempotency_keys k WHERE k.created_at < ?
AND NOT EXISTS (SELECT 1 FROM bookings b WHERE b.id = k.booking_id AND b.status = 'pending')
ORDER BY k.created_at`
	n, err := db.pruneChunks(ctx, "idempotency_keys", q, []any{p.Before.UTC()}, p.ChunkSize)
	if err != nil {
		return n, fmt.Errorf("store: prune idempotency keys: %w", err)
	}
	return n, nil
}

// SentEmailPrune deletes the records of booking emails sent before
// p.Before.
func (db *DB) SentEmailPrune(ctx context.Context, p PruneParams) (int64, error) {
	const q = `SELECT id FROM sent_emails WHERE sent_at < ? ORDER BY sent_at`
	n, err := db.pruneChunks(ctx, "sent_emails", q, []any{p.Before.UTC()}, p.ChunkSize)
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
	const q = `SELECT id FROM payment_notifications WHERE outcome = ? AND received_at < ? ORDER BY received_at`
	var total int64
	for _, outcome := range rejected {
		n, err := db.pruneChunks(ctx, "payment_notifications", q, []any{outcome, p.Before.UTC()}, p.ChunkSize)
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
	q := `SELECT id FROM payment_notifications WHERE received_at < ?`
	args := []any{p.Before.UTC()}
	if len(rejected) > 0 {
		q += ` AND (outcome IS NULL OR outcome NOT IN (?` + strings.Repeat(", ?", len(rejected)-1) + `))`
		for _, o := range rejected {
			args = append(args, o)
		}
	}
	q += ` ORDER BY received_at`
	n, err := db.pruneChunks(ctx, "payment_notifications", q, args, p.ChunkSize)
	if err != nil {
		return n, fmt.Errorf("store: prune accepted payment notifications: %w", err)
	}
	return n, nil
}

// OpsNotificationPrune deletes the operator notifications sent (to every
// configured channel, or skipped) before p.Before. Unsent ones stay: they
// are still to be delivered.
func (db *DB) OpsNotificationPrune(ctx context.Context, p PruneParams) (int64, error) {
	const q = `SELECT id FROM ops_notifications WHERE sent_at IS NOT NULL AND sent_at < ? ORDER BY sent_at`
	n, err := db.pruneChunks(ctx, "ops_notifications", q, []any{p.Before.Unix()}, p.ChunkSize)
	if err != nil {
		return n, fmt.Errorf("store: prune ops notifications: %w", err)
	}
	return n, nil
}

// ScheduleRunPrune deletes the scheduler's runs started before p.Before,
// except the latest run of each task: the dashboard's "last run" of a task
// that runs seldom must not go blank.
func (db *DB) ScheduleRunPrune(ctx context.Context, p PruneParams) (int64, error) {
	const q = `SELECT id FROM schedule_runs WHERE started_at < ?
AND id NOT IN (SELECT MAX(id) FROM schedule_runs GROUP BY name)
ORDER BY started_at`
	n, err := db.pruneChunks(ctx, "schedule_runs", q, []any{p.Before.Unix()}, p.ChunkSize)
	if err != nil {
		return n, fmt.Errorf("store: prune schedule runs: %w", err)
	}
	return n, nil
}

// TokenPruneExpired deletes the API and dashboard tokens that expired
// before p.Before. Tokens without an expiry are never pruned.
func (db *DB) TokenPruneExpired(ctx context.Context, p PruneParams) (int64, error) {
	const q = `SELECT id FROM personal_access_tokens WHERE expires_at IS NOT NULL AND expires_at < ? ORDER BY expires_at`
	n, err := db.pruneChunks(ctx, "personal_access_tokens", q, []any{p.Before.UTC()}, p.ChunkSize)
	if err != nil {
		return n, fmt.Errorf("store: prune expired tokens: %w", err)
	}
	return n, nil
}

// pruneChunks deletes from table the rows whose ids sel returns, chunk at
// a time. sel is a portable SELECT of ids, oldest first, without its
// LIMIT; args are its parameters. It returns the rows deleted so far, also
// when it fails part-way: every chunk before the failure is committed.
func (db *DB) pruneChunks(ctx context.Context, table, sel string, args []any, chunk int) (int64, error) {
	if chunk <= 0 {
		chunk = DefaultPruneChunk
	}
	q := db.Rebind(sel + " LIMIT ?")
	args = append(args[:len(args):len(args)], chunk)
	var total int64
	for {
		ids, err := db.pruneIDs(ctx, q, args)
		if err != nil || len(ids) == 0 {
			return total, err
		}
		var n int64
		err = db.InTx(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, "DELETE FROM "+table+" WHERE id IN ("+literalIDs(ids)+")")
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
	}
}

// pruneIDs reads one chunk of ids. On SQLite it reads through the read
// pool, so that the single writer connection is only taken to delete.
func (db *DB) pruneIDs(ctx context.Context, q string, args []any) ([]int64, error) {
	rows, err := db.Read.QueryContext(ctx, q, args...)
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
