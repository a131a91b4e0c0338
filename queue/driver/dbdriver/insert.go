package dbdriver

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/google/uuid"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/sqldb"
)

// InsertFunc is a dialect's insert of jobs within tx.
type InsertFunc func(ctx context.Context, tx *sql.Tx, params []*driver.JobInsertParams) ([]driver.JobInsertResult, error)

// InsertMany is JobInsertMany for drivers whose insert needs a
// transaction of its own: insert runs in one, retried as a whole on a
// deadlock or busy error.
func InsertMany(ctx context.Context, db *sqldb.DB, params []*driver.JobInsertParams, insert InsertFunc) ([]driver.JobInsertResult, error) {
	if len(params) == 0 {
		return nil, nil
	}
	var out []driver.JobInsertResult
	err := db.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = insert(ctx, tx, params)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("queue: insert jobs: %w", err)
	}
	return out, nil
}

// InsertManyTx is JobInsertManyTx for every database driver: insert runs
// within the caller's transaction, so the jobs exist only if it commits.
func InsertManyTx(ctx context.Context, tx *sql.Tx, params []*driver.JobInsertParams, insert InsertFunc) ([]driver.JobInsertResult, error) {
	if len(params) == 0 {
		return nil, nil
	}
	out, err := insert(ctx, tx, params)
	if err != nil {
		return nil, fmt.Errorf("queue: insert jobs: %w", err)
	}
	return out, nil
}

// InsertRow is one job to insert with every value resolved: a UUID
// generated when the caller gave none, the delay in whole seconds, and
// AvailableAt as Unix seconds (nil means "database clock + Delay").
type InsertRow struct {
	UUID        string
	Queue       string
	Kind        string
	Payload     string
	MaxAttempts int
	AvailableAt any
	Delay       int64
	UniqueKey   any
	BatchID     any
}

// InsertRows resolves params into rows.
func InsertRows(params []*driver.JobInsertParams) []InsertRow {
	rows := make([]InsertRow, len(params))
	for i, p := range params {
		id := p.UUID
		if id == "" {
			id = uuid.NewString()
		}
		queue := p.Queue
		if queue == "" {
			queue = "default"
		}
		rows[i] = InsertRow{
			UUID:        id,
			Queue:       queue,
			Kind:        p.Kind,
			Payload:     string(p.Payload),
			MaxAttempts: max(p.MaxAttempts, 0),
			AvailableAt: UnixOrNil(p.AvailableAt),
			Delay:       Seconds(p.Delay),
			UniqueKey:   NullString(p.UniqueKey),
			BatchID:     NullString(p.BatchID),
		}
	}
	return rows
}

// InsertResults matches what an insert returned to the rows asked for:
// inserted maps a UUID to its new id; a row whose UUID is missing was
// skipped for its unique key, and existing (which may be nil) maps that
// key to the job that holds it.
func InsertResults(rows []InsertRow, inserted map[string]int64, existing map[string]int64) []driver.JobInsertResult {
	out := make([]driver.JobInsertResult, len(rows))
	for i, r := range rows {
		if id, ok := inserted[r.UUID]; ok {
			out[i] = driver.JobInsertResult{ID: id}
			delete(inserted, r.UUID) // a repeated UUID is inserted once
			continue
		}
		out[i].Skipped = true
		if k, ok := r.UniqueKey.(string); ok {
			out[i].ID = existing[k]
		}
	}
	return out
}

// SkippedKeys returns the unique keys of the rows an insert skipped, so
// that the driver can look up the jobs that hold them.
func SkippedKeys(rows []InsertRow, inserted map[string]int64) []string {
	var keys []string
	for _, r := range rows {
		if _, ok := inserted[r.UUID]; ok {
			continue
		}
		if k, ok := r.UniqueKey.(string); ok {
			keys = append(keys, k)
		}
	}
	return keys
}
