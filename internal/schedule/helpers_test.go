package schedule

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
	"github.com/tripintravel/tripin/queue"
)

// openDB is storetest.Open that also remembers the DSN, for tests that open
// more pools or start processes on the same database.
func openDB(t testing.TB, d store.Dialect) (*store.DB, string) {
	t.Helper()
	dsn := storetest.NewDSN(t, d)
	db, err := store.Open(context.Background(), store.OpenParams{Dialect: d, DSN: dsn})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	_, err = db.Migrate(context.Background())
	require.NoError(t, err)
	return db, dsn
}

// kindArgs is a job whose kind is its field, so tests can tell events'
// jobs apart in the jobs table.
type kindArgs struct{ K string }

func (a kindArgs) Kind() string { return a.K }

// tableDispatcher inserts jobs straight into the jobs table, standing in
// for the queue engine: the rows are what DatabaseJobs looks at.
type tableDispatcher struct {
	db *store.DB
	// fail, when set, is returned by every insert.
	fail error
}

func (d *tableDispatcher) Insert(ctx context.Context, args queue.JobArgs, opts *queue.InsertOpts) (*queue.InsertResult, error) {
	if d.fail != nil {
		return nil, d.fail
	}
	return insertJobRow(ctx, d.db, d.db.DB, args)
}

// txDispatcher is tableDispatcher with the InsertTx capability.
type txDispatcher struct{ tableDispatcher }

func (d *txDispatcher) InsertTx(ctx context.Context, tx *sql.Tx, args queue.JobArgs, opts *queue.InsertOpts) (*queue.InsertResult, error) {
	if d.fail != nil {
		return nil, d.fail
	}
	return insertJobRow(ctx, d.db, tx, args)
}

func insertJobRow(ctx context.Context, db *store.DB, q querier, args queue.JobArgs) (*queue.InsertResult, error) {
	now := time.Now().Unix()
	query := db.Rebind("INSERT INTO jobs (queue, payload, attempts, available_at, created_at, uuid, kind, max_attempts) VALUES ('default', '{}', 0, ?, ?, ?, ?, 1)")
	if db.Dialect == store.PgSQL {
		var id int64
		err := q.QueryRowContext(ctx, query+" RETURNING id", now, now, uuid.NewString(), args.Kind()).Scan(&id)
		return &queue.InsertResult{ID: id}, err
	}
	res, err := q.ExecContext(ctx, query, now, now, uuid.NewString(), args.Kind())
	if err != nil {
		return nil, err
	}
	id, err := res.LastInsertId()
	return &queue.InsertResult{ID: id}, err
}

func countJobs(t testing.TB, db *store.DB, kind string) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow(db.Rebind("SELECT COUNT(*) FROM jobs WHERE kind = ?"), kind).Scan(&n))
	return n
}

// finishJobs deletes an event's jobs, as the engine does when they
// complete.
func finishJobs(t testing.TB, db *store.DB, kind string) {
	t.Helper()
	_, err := db.Exec(db.Rebind("DELETE FROM jobs WHERE kind = ?"), kind)
	require.NoError(t, err)
}

// panicDispatcher panics on every insert, as a dispatcher with a bug would.
type panicDispatcher struct{ db *store.DB }

func (d *panicDispatcher) Insert(context.Context, queue.JobArgs, *queue.InsertOpts) (*queue.InsertResult, error) {
	panic("dispatcher bug")
}

// panicTxDispatcher is panicDispatcher with InsertTx, which inserts the
// job in the lock's transaction and then panics, leaving the transaction
// open.
type panicTxDispatcher struct{ panicDispatcher }

func (d *panicTxDispatcher) InsertTx(ctx context.Context, tx *sql.Tx, args queue.JobArgs, opts *queue.InsertOpts) (*queue.InsertResult, error) {
	if _, err := insertJobRow(ctx, d.db, tx, args); err != nil {
		return nil, err
	}
	panic("dispatcher bug in a transaction")
}
