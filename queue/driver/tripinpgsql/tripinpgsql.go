// Package tripinpgsql is the queue driver for PostgreSQL. A claim is one
// UPDATE … FROM (SELECT … FOR UPDATE SKIP LOCKED) RETURNING, walking the
// queues in priority order with a LATERAL join; an insert is one INSERT …
// SELECT FROM unnest(…) whatever the number of jobs, and it calls
// pg_notify in the same statement so that listening workers wake when the
// transaction commits.
package tripinpgsql

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/dbdriver"
	"github.com/tripintravel/tripin/queue/sqldb"
)

// Channel is the LISTEN/NOTIFY channel; the payload is the queue's name.
const Channel = "tripin_jobs"

// Options configure the driver.
type Options struct {
	// Name is the connection name; "database" when empty.
	Name string
}

// Driver is the PostgreSQL queue driver. It implements driver.Listener.
type Driver struct {
	*dbdriver.Base
}

var (
	_ driver.Driver     = (*Driver)(nil)
	_ driver.Listener   = (*Driver)(nil)
	_ driver.Admin      = (*Driver)(nil)
	_ driver.Registry   = (*Driver)(nil)
	_ driver.JobBrowser = (*Driver)(nil)
)

// now is the database clock in whole Unix seconds (floored: a job inserted
// now must be claimable now).
const now = "floor(extract(epoch FROM now()))::bigint"

var dialect = &dbdriver.Dialect{
	Store:     sqldb.PgSQL,
	UnixNow:   now,
	Timestamp: func(t time.Time) any { return t.UTC() },
	IDList: func(ids []int64) (string, []any) {
		return "id = ANY(?::bigint[])", []any{ids}
	},
	// The id array finds the rows by primary key; each row's claim is
	// then looked up in a JSON object keyed by id, a lookup local to the
	// row. A semi-join against unnest(ids, claims) reads the same but is
	// planned as a nested loop over the unnest for every row (its size is
	// unknown to a generic plan): quadratic, 1.3 s for 1,500 leases
	// against 10 ms for this. Being local to the row, the check is also
	// what PostgreSQL re-evaluates on the latest version of a row that a
	// concurrent claim changed under the statement.
	LeaseList: func(leases []driver.JobLease) (string, []any) {
		return "id = ANY(?::bigint[]) AND claim_seq = (?::jsonb ->> id::text)::bigint", []any{dbdriver.LeaseIDs(leases), leaseClaims(leases)}
	},
	Returning: true,
	LockRow:   " FOR UPDATE",
	FailInsert: `INSERT INTO failed_jobs (uuid, connection, queue, payload, exception, failed_at, error_log)
SELECT uuid::text, $1, queue, payload, $2, COALESCE($3::timestamptz, now()), $4::text FROM jobs WHERE id = $5
ON CONFLICT (uuid) DO UPDATE SET connection = excluded.connection, queue = excluded.queue,
  payload = excluded.payload, exception = excluded.exception, failed_at = excluded.failed_at,
  error_log = excluded.error_log`,
	CachePut: `INSERT INTO cache (key, value, expiration) VALUES ($1, $2, $3)
ON CONFLICT (key) DO UPDATE SET value = excluded.value, expiration = excluded.expiration`,
	AsyncCommit: asyncCommit,
}

// leaseClaims returns the JSON object {"id": claim_seq, ...} of leases.
func leaseClaims(leases []driver.JobLease) string {
	b := make([]byte, 0, 2+len(leases)*24)
	b = append(b, '{')
	for i, l := range leases {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = strconv.AppendInt(b, l.ID, 10)
		b = append(b, '"', ':')
		b = strconv.AppendInt(b, l.Claim, 10)
	}
	return string(append(b, '}'))
}

// asyncCommit turns synchronous_commit off for the current transaction
// only, from inside a statement (an uncorrelated subquery runs once), so
// that claims and completions, the two statements of the hot path, commit
// without waiting for the WAL flush. A database crash may then forget the
// last few hundred milliseconds of them; a forgotten claim makes its jobs
// available again and a forgotten completion runs its jobs again, both of
// which at-least-once delivery allows and a worker crash causes anyway.
// Inserts, retries and failures stay synchronous: they must never be lost.
const asyncCommit = "(SELECT set_config('synchronous_commit', 'off', true)) = 'off'"

// New returns a driver on db, which must be a PostgreSQL store.
func New(db *sqldb.DB, opts Options) *Driver {
	return &Driver{Base: dbdriver.NewBase(db, dialect, opts.Name)}
}

// insertSQL inserts one row per element of the arrays, skips rows whose
// unique_key is taken (and only those), and notifies each queue that got a
// job available now, once. Delayed jobs notify nobody: a worker finds them
// by polling when they come due, and PostgreSQL serializes the commits of
// notifying transactions, so a booking that only schedules its expiry job
// must not pay for a notification. The notify CTE is referenced from the
// final WHERE so that it runs.
const insertSQL = `WITH ins AS (
  INSERT INTO jobs (queue, payload, attempts, available_at, created_at, uuid, kind, max_attempts, unique_key, batch_id)
  SELECT q, p, 0, COALESCE(at, ` + now + ` + d), ` + now + `, u::uuid, k, m, uk, b
  FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::int[], $8::text[], $9::text[])
    WITH ORDINALITY AS t(q, p, at, d, u, k, m, uk, b, n)
  ORDER BY n
  ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING
  RETURNING id, uuid, queue, available_at
), notified AS (
  SELECT pg_notify('` + Channel + `', queue) FROM (SELECT DISTINCT queue FROM ins WHERE available_at <= ` + now + `) x
)
SELECT id, uuid::text FROM ins WHERE (SELECT count(*) FROM notified) >= 0`

const holdersSQL = `SELECT id, unique_key FROM jobs WHERE unique_key = ANY($1::text[])`

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// JobInsertMany inserts jobs with one statement.
func (d *Driver) JobInsertMany(ctx context.Context, params []*driver.JobInsertParams) ([]driver.JobInsertResult, error) {
	if len(params) == 0 {
		return nil, nil
	}
	var out []driver.JobInsertResult
	err := dbdriver.Retry(ctx, func() error {
		var err error
		out, err = d.insert(ctx, d.DB, params)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("queue: insert jobs: %w", err)
	}
	return out, nil
}

// JobInsertManyTx inserts jobs within tx; listeners are notified when tx
// commits.
func (d *Driver) JobInsertManyTx(ctx context.Context, tx *sql.Tx, params []*driver.JobInsertParams) ([]driver.JobInsertResult, error) {
	return dbdriver.InsertManyTx(ctx, tx, params, func(ctx context.Context, tx *sql.Tx, params []*driver.JobInsertParams) ([]driver.JobInsertResult, error) {
		return d.insert(ctx, tx, params)
	})
}

func (d *Driver) insert(ctx context.Context, q querier, params []*driver.JobInsertParams) ([]driver.JobInsertResult, error) {
	rows := dbdriver.InsertRows(params)
	n := len(rows)
	var (
		queues, payloads, uuids, kinds = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		at, delay                      = make([]*int64, n), make([]int64, n)
		maxAttempts                    = make([]int32, n)
		uniques, batches               = make([]*string, n), make([]*string, n)
	)
	for i, r := range rows {
		queues[i], payloads[i], uuids[i], kinds[i] = r.Queue, r.Payload, r.UUID, r.Kind
		if v, ok := r.AvailableAt.(int64); ok {
			at[i] = &v
		}
		delay[i] = r.Delay
		maxAttempts[i] = int32(r.MaxAttempts)
		if v, ok := r.UniqueKey.(string); ok {
			uniques[i] = &v
		}
		if v, ok := r.BatchID.(string); ok {
			batches[i] = &v
		}
	}
	res, err := q.QueryContext(ctx, insertSQL, queues, payloads, at, delay, uuids, kinds, maxAttempts, uniques, batches)
	if err != nil {
		return nil, err
	}
	inserted := make(map[string]int64, n)
	for res.Next() {
		var id int64
		var u string
		if err := res.Scan(&id, &u); err != nil {
			res.Close()
			return nil, err
		}
		inserted[u] = id
	}
	res.Close()
	if err := res.Err(); err != nil {
		return nil, err
	}
	var existing map[string]int64
	if keys := dbdriver.SkippedKeys(rows, inserted); len(keys) > 0 {
		existing = make(map[string]int64, len(keys))
		hr, err := q.QueryContext(ctx, holdersSQL, keys)
		if err != nil {
			return nil, err
		}
		defer hr.Close()
		for hr.Next() {
			var id int64
			var k string
			if err := hr.Scan(&id, &k); err != nil {
				return nil, err
			}
			existing[k] = id
		}
		if err := hr.Err(); err != nil {
			return nil, err
		}
	}
	return dbdriver.InsertResults(rows, inserted, existing), nil
}

// claimSQL takes the queues in priority order ($1, an array), and for each
// first its jobs whose lease expired (jobs_queue_lease; they have waited
// longest and must not starve behind a backlog), then its pending jobs in
// the order they became available, then by id (jobs_queue_pending;
// ordering by available_at also keeps the planner from walking the primary
// key past running and delayed jobs), locking with SKIP LOCKED so that
// concurrent claimers pass each other instead of waiting. The nested loop
// over the queues stops as soon as $3 rows are found, so lower queues are
// not even read while a higher one has enough. The UPDATE finds the
// locked rows by primary key through = ANY(ARRAY(…)), which a hash join
// over the whole table cannot replace. $2 is the injected clock
// (NULL for the database's), $4 the lease in seconds, $5 the worker. The
// SET expressions read the row as it was (see dbdriver.ClaimCharge): an
// expired reservation never renewed keeps its attempt, once.
const claimSQL = `WITH clock AS (
  SELECT COALESCE($2::bigint, ` + now + `) AS now WHERE ` + asyncCommit + `
), locked AS (
  SELECT c.id FROM clock, unnest($1::text[]) WITH ORDINALITY AS q(name, prio)
  CROSS JOIN LATERAL (
    SELECT id FROM (SELECT id FROM jobs
      WHERE queue = q.name AND reserved_at IS NOT NULL AND lease_expires_at < clock.now
      ORDER BY lease_expires_at LIMIT $3 FOR UPDATE SKIP LOCKED) expired
    UNION ALL
    SELECT id FROM (SELECT id FROM jobs
      WHERE queue = q.name AND reserved_at IS NULL AND available_at <= clock.now
      ORDER BY available_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) pending
  ) c
  LIMIT $3
)
UPDATE jobs SET attempts = attempts + ` + dbdriver.ClaimCharge + `, heartbeat_at = ` + dbdriver.ClaimMark + `,
  claim_seq = claim_seq + 1, reserved_at = (SELECT now FROM clock), reserved_by = $5,
  lease_expires_at = (SELECT now FROM clock) + $4::bigint
WHERE jobs.id = ANY(ARRAY(SELECT id FROM locked))
RETURNING jobs.id, jobs.uuid::text, jobs.queue, jobs.kind, jobs.payload, jobs.attempts, jobs.max_attempts,
  jobs.reserved_at, jobs.available_at, jobs.created_at, jobs.unique_key, jobs.batch_id, jobs.reserved_by, jobs.last_error,
  jobs.lease_expires_at, jobs.claim_seq, jobs.error_log`

// JobClaim reserves up to Max available jobs in one statement.
func (d *Driver) JobClaim(ctx context.Context, p *driver.JobClaimParams) ([]*driver.JobRow, error) {
	queues := dbdriver.Dedupe(p.Queues)
	if p.Max <= 0 || len(queues) == 0 {
		return nil, nil
	}
	var nowArg *int64
	if !p.Now.IsZero() {
		v := p.Now.Unix()
		nowArg = &v
	}
	var jobs []*driver.JobRow
	err := dbdriver.Retry(ctx, func() error {
		rows, err := d.DB.QueryContext(ctx, claimSQL, queues, nowArg, p.Max, dbdriver.LeaseSeconds(p), p.WorkerID)
		if err != nil {
			return err
		}
		jobs, err = dbdriver.ScanJobs(rows)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("queue: claim jobs: %w", err)
	}
	dbdriver.SortClaimed(jobs, queues)
	return jobs, nil
}
