package tripinredis

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/dbdriver"
	"github.com/tripintravel/tripin/queue/sqldb"
)

// The transactional outbox.
//
// A job inserted with JobInsertManyTx must exist if and only if the
// caller's SQL transaction commits, and Redis cannot take part in that
// transaction. So the job is written where the transaction can see it: the
// SQL driver inserts it into the jobs table within tx, and the row is
// marked as an outbox row (reserved_by "redis:<id>", reserved_at far in the
// future so that no SQL claim ever takes it). Once tx has committed, a
// relay moves the row into Redis and deletes it: a rolled-back row never
// existed, so it is never moved.
//
// Moving is idempotent: each row is pushed by the insert script together
// with a marker key (P outbox:<sql id>:<uuid>, kept a week) that the script
// sets only if absent, and a row whose marker exists is not pushed again.
// The row is deleted after the push. A relay that dies between the push
// and the delete leaves a row that the next relay finds, skips because of
// its marker, and deletes; any number of relays may race over the same
// rows, and each job is pushed exactly once and never lost.
//
// Ids and order. The job's Redis id is drawn from the Redis counter when
// JobInsertManyTx runs, before the SQL insert, and returned to the caller;
// the relayed job keeps it. A job is claimed in (available_at, id) order
// like any other, so once moved it takes the place its insert time gives
// it among the waiting jobs, as a row of a SQL queue would. A job becomes
// claimable only once it has been moved: within RelayInterval of the
// commit (a worker that runs dry also relays before it polls again). Rows
// are moved in SQL id order, but jobs committed by concurrent transactions
// have no order between them beyond that.
//
// Unique keys. JobInsertManyTx skips a job whose key a job in Redis holds
// (reporting that job's id) or an outbox row holds (the SQL unique index).
// A key taken in Redis between the insert and the move wins: the moved job
// is then dropped as a duplicate, as it would have been skipped a moment
// later.

// outboxTag starts reserved_by of an outbox row; the job's Redis id follows.
const outboxTag = "redis:"

// outboxReservedAt is reserved_at of an outbox row, 2100-01-01: a SQL
// worker pointed at the same database by mistake never sees the lease end,
// and the value fits MySQL's INT UNSIGNED.
const outboxReservedAt = 4102444800

// outboxBatch is the number of outbox rows one relay step moves.
const outboxBatch = 500

func (d *Driver) prepareSQL() {
	d.outboxMark = d.db.Rebind("UPDATE jobs SET reserved_at = ?, reserved_by = ? WHERE id = ?")
	d.outboxSel = d.db.Rebind("SELECT " + dbdriver.JobColumns + " FROM jobs WHERE reserved_by LIKE ? ORDER BY id LIMIT ?")
	d.outboxHas = d.db.Rebind("SELECT COUNT(*) FROM jobs WHERE reserved_by = ?")
	// failInsert writes one failed_jobs row: uuid, connection, queue,
	// payload, exception, failed_at (NULL for the database clock),
	// error_log. It replaces an earlier row of the uuid (a retried job that
	// failed again).
	cols := `INSERT INTO failed_jobs (uuid, connection, queue, payload, exception, failed_at, error_log)
`
	switch d.db.Dialect {
	case sqldb.MySQL:
		d.failInsert = cols + `VALUES (?, ?, ?, ?, ?, COALESCE(?, CURRENT_TIMESTAMP), ?)
ON DUPLICATE KEY UPDATE connection = VALUES(connection), queue = VALUES(queue),
  payload = VALUES(payload), exception = VALUES(exception), failed_at = VALUES(failed_at), error_log = VALUES(error_log)`
	case sqldb.PgSQL:
		d.failInsert = cols + `VALUES ($1, $2, $3, $4, $5, COALESCE($6::timestamptz, now()), $7::text)` + upsertFailed
	default:
		d.failInsert = cols + `VALUES (?, ?, ?, ?, ?, COALESCE(?, CURRENT_TIMESTAMP), ?)` + upsertFailed
	}
}

// upsertFailed ends failInsert on SQLite and PostgreSQL.
const upsertFailed = `
ON CONFLICT (uuid) DO UPDATE SET connection = excluded.connection, queue = excluded.queue,
  payload = excluded.payload, exception = excluded.exception, failed_at = excluded.failed_at, error_log = excluded.error_log`

// JobInsertManyTx inserts jobs within the caller's transaction through the
// outbox: they reach Redis only if tx commits, with the ids returned here.
func (d *Driver) JobInsertManyTx(ctx context.Context, tx *sql.Tx, params []*driver.JobInsertParams) ([]driver.JobInsertResult, error) {
	if len(params) == 0 {
		return nil, nil
	}
	out, err := d.insertOutbox(ctx, tx, params)
	if err != nil {
		return nil, fmt.Errorf("queue: insert jobs: %w", err)
	}
	return out, nil
}

func (d *Driver) insertOutbox(ctx context.Context, tx *sql.Tx, params []*driver.JobInsertParams) ([]driver.JobInsertResult, error) {
	out := make([]driver.JobInsertResult, len(params))
	holders, err := d.uniqueHolders(ctx, params)
	if err != nil {
		return nil, err
	}
	var (
		pending []*driver.JobInsertParams
		at      []int
	)
	for i, p := range params {
		if id, ok := holders[p.UniqueKey]; ok && p.UniqueKey != "" {
			out[i] = driver.JobInsertResult{ID: id, Skipped: true}
			continue
		}
		pending, at = append(pending, p), append(at, i)
	}
	if len(pending) == 0 {
		return out, nil
	}
	// The ids, and a bump of the outbox sequence that tells idle workers
	// to look at the outbox, in one round trip.
	top, err := drawScript.Run(ctx, d.rdb, d.scriptKeys(), d.prefix, len(pending)).Int64()
	if err != nil {
		return nil, err
	}
	first := top - int64(len(pending)) + 1
	res, err := d.sql.JobInsertManyTx(ctx, tx, pending)
	if err != nil {
		return nil, err
	}
	if len(res) != len(pending) {
		return nil, fmt.Errorf("the SQL driver returned %d results for %d jobs", len(res), len(pending))
	}
	bySQL := make(map[int64]int64, len(res))
	for k, r := range res {
		i := at[k]
		if r.Skipped {
			holder, err := d.outboxHolder(ctx, tx, r.ID, bySQL)
			if err != nil {
				return nil, err
			}
			out[i] = driver.JobInsertResult{ID: holder, Skipped: true}
			continue
		}
		id := first + int64(k)
		if _, err := tx.ExecContext(ctx, d.outboxMark, outboxReservedAt, outboxTag+strconv.FormatInt(id, 10), r.ID); err != nil {
			return nil, err
		}
		bySQL[r.ID] = id
		out[i] = driver.JobInsertResult{ID: id}
	}
	return out, nil
}

// uniqueHolders returns the ids of the Redis jobs holding the unique keys
// of params.
func (d *Driver) uniqueHolders(ctx context.Context, params []*driver.JobInsertParams) (map[string]int64, error) {
	args := []any{d.prefix}
	var names []string
	for _, p := range params {
		if p.UniqueKey != "" {
			args, names = append(args, p.UniqueKey), append(names, p.UniqueKey)
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	ids, err := holdersScript.Run(ctx, d.rdb, d.scriptKeys(), args...).Int64Slice()
	if err != nil {
		return nil, err
	}
	if len(ids) != len(names) {
		return nil, fmt.Errorf("the holders script returned %d ids for %d keys", len(ids), len(names))
	}
	out := make(map[string]int64, len(names))
	for i, id := range ids {
		if id > 0 {
			out[names[i]] = id
		}
	}
	return out, nil
}

// outboxHolder returns the Redis id of the outbox row sqlID, which holds a
// unique key an insert was skipped for, or 0 when it cannot tell.
func (d *Driver) outboxHolder(ctx context.Context, tx *sql.Tx, sqlID int64, known map[int64]int64) (int64, error) {
	if sqlID == 0 {
		return 0, nil
	}
	if id, ok := known[sqlID]; ok {
		return id, nil
	}
	var by sql.NullString
	err := tx.QueryRowContext(ctx, d.db.Rebind("SELECT reserved_by FROM jobs WHERE id = ?"), sqlID).Scan(&by)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	id, _ := outboxID(by.String)
	return id, nil
}

// outboxID reads the Redis id from an outbox row's reserved_by.
func outboxID(reservedBy string) (int64, bool) {
	s, ok := strings.CutPrefix(reservedBy, outboxTag)
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(s, 10, 64)
	return id, err == nil && id > 0
}

// RelayOutbox moves every committed outbox row into Redis, oldest first,
// and returns how many jobs it added. Any number of relays may run at once
// in any number of processes; see the comment at the top of this file.
func (d *Driver) RelayOutbox(ctx context.Context) (int, error) {
	started := time.Now().UnixNano()
	seq, err := d.rdb.Get(ctx, d.key("outbox")).Int64()
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, fmt.Errorf("queue: move outbox jobs into redis: %w", err)
	}
	moved := 0
	for {
		n, rows, err := d.relayStep(ctx)
		moved += n
		if err != nil {
			return moved, fmt.Errorf("queue: move outbox jobs into redis: %w", err)
		}
		if rows < outboxBatch {
			break
		}
	}
	// Every row committed before the sequence was read has been moved.
	d.relaySeq.Store(seq)
	d.lastRelay.Store(started)
	return moved, nil
}

// relayStep moves up to outboxBatch rows; it returns the jobs added and
// the rows read.
func (d *Driver) relayStep(ctx context.Context) (int, int, error) {
	rows, err := d.readOutbox(ctx)
	if err != nil || len(rows) == 0 {
		return 0, 0, err
	}
	jobs := make([]insertArgs, 0, len(rows))
	sqlIDs := make([]int64, 0, len(rows))
	for _, r := range rows {
		id, ok := outboxID(r.ReservedBy)
		if !ok {
			continue // not an outbox row after all: the LIKE only narrows
		}
		sqlIDs = append(sqlIDs, r.ID)
		jobs = append(jobs, insertArgs{
			id: id, uuid: r.UUID, queue: r.Queue, kind: r.Kind, payload: r.Payload,
			maxAttempts: r.MaxAttempts, availableAt: r.AvailableAt.Unix(), createdAt: r.CreatedAt.Unix(),
			uniqueKey: r.UniqueKey, batchID: r.BatchID,
			marker: d.key("outbox:", strconv.FormatInt(r.ID, 10), ":", r.UUID),
		})
	}
	if len(jobs) == 0 {
		return 0, 0, nil
	}
	res, err := d.insert(ctx, jobs)
	if err != nil {
		return 0, len(rows), err
	}
	added := 0
	for _, r := range res {
		if r.status == statusInserted {
			added++
		}
	}
	// Only outbox rows are deleted, whatever else the LIKE matched.
	del := d.db.Rebind("DELETE FROM jobs WHERE id IN (" + dbdriver.LiteralIDs(sqlIDs) + ") AND reserved_by LIKE ?")
	err = dbdriver.Retry(ctx, func() error {
		_, err := d.db.ExecContext(ctx, del, outboxTag+"%")
		return err
	})
	return added, len(rows), err
}

func (d *Driver) readOutbox(ctx context.Context) ([]*driver.JobRow, error) {
	read := d.db.Read
	if read == nil {
		read = d.db.DB
	}
	rs, err := read.QueryContext(ctx, d.outboxSel, outboxTag+"%", outboxBatch)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var rows []*driver.JobRow
	for rs.Next() {
		j, err := dbdriver.ScanJob(rs)
		if err != nil {
			return nil, err
		}
		rows = append(rows, j)
	}
	return rows, rs.Err()
}

// startRelay starts the background relay once, on the first claim: the
// processes that work jobs move them, so a web server that only inserts
// does not poll the outbox.
func (d *Driver) startRelay() {
	d.relayOnce.Do(func() { go d.relayLoop() })
}

// relayLoop moves committed outbox rows every RelayInterval until Close.
// Workers that run dry relay on their own (JobClaim); this loop is for
// busy ones, whose claims never come up short.
func (d *Driver) relayLoop() {
	defer close(d.relayDone)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-d.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	t := time.NewTicker(d.relayEvery)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
		}
		if _, err := d.RelayOutbox(ctx); err != nil && ctx.Err() == nil {
			d.warnRelay(err)
		}
	}
}

// warnRelay logs a failed relay at most once a minute per process: the
// operator needs to hear of it, not once per idle poll of every worker,
// and the rows wait safely in SQL meanwhile.
func (d *Driver) warnRelay(err error) {
	now := time.Now().UnixNano()
	last := d.lastWarn.Load()
	if now-last < int64(time.Minute) || !d.lastWarn.CompareAndSwap(last, now) {
		return
	}
	d.log.Warn("queue: move committed outbox jobs into redis; they wait in the jobs table", "error", err)
}
