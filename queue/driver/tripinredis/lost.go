package tripinredis

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// Jobs lost from Redis.
//
// A job's id sits in a queue's sorted set and its data in its hash; every
// script that deletes the hash removes the id in the same step. An id
// whose hash is gone therefore means the data went behind the queue's
// back: evicted by a maxmemory-policy other than noeviction (which the
// application refuses at start, see CheckServer, but which may be set
// afterwards), or deleted by hand or by another program sharing the
// server. (A restart cannot split a job: Redis persists each script's
// writes together.) The job cannot run, and it must not vanish either: the claim that meets the
// id moves it to the P lost hash in its script, and the claiming process
// then writes one failed_jobs row per entry and deletes the entry. A
// process that dies in between leaves the entry to the next claim of any
// process; the row's uuid is derived from the entry, so any number of
// writers make one row.

// lostNamespace is the UUID namespace of lost jobs' failed_jobs rows.
var lostNamespace = uuid.MustParse("4f754040-970e-435f-9650-8cf94f7886be")

// lostBatch is the most lost entries one write moves to failed_jobs; the
// rest wait for the next claim.
const lostBatch = 500

// LostJobs returns how many jobs this driver found lost since it was
// created: ids still queued in Redis whose job data was missing. Each was
// logged at error level and recorded in failed_jobs. The count is this
// process's, like the worker's other counters.
func (d *Driver) LostJobs() int64 { return d.lostFound.Load() }

// reportLost counts and logs the jobs a claim found lost; pairs holds
// their id and queue.
func (d *Driver) reportLost(pairs []string) {
	n := len(pairs) / 2
	d.lostFound.Add(int64(n))
	ids := make([]string, 0, n)
	queues := make([]string, 0, n)
	for i := 0; i+1 < len(pairs); i += 2 {
		ids, queues = append(ids, pairs[i]), append(queues, pairs[i+1])
	}
	d.log.Error("queue: jobs lost from redis: their ids were still queued but their data was missing (evicted or deleted); they are recorded in failed_jobs",
		"count", n, "ids", ids, "queues", queues)
}

// lostEntry is one value of the P lost hash, as claimScript writes it.
type lostEntry struct {
	Queue   string `json:"queue"`
	State   string `json:"state"` // waiting or running
	FoundAt int64  `json:"found_at"`
}

// lostPayload is the failed_jobs payload of a lost job: what is known of
// it, in the payload's shape, with no job kind, since that went with the
// data. Lost marks it, so that retries leave it alone.
type lostPayload struct {
	UUID        string   `json:"uuid"`
	DisplayName string   `json:"displayName"`
	Job         string   `json:"job"`
	Lost        bool     `json:"lost"`
	Data        lostData `json:"data"`
}

type lostData struct {
	ID      int64     `json:"id"`
	Queue   string    `json:"queue"`
	State   string    `json:"state"`
	FoundAt time.Time `json:"foundAt"`
}

// lostDisplayName is the name listings of failed jobs show for a lost job.
const lostDisplayName = "Lost job (its data was missing from Redis)"

// isLostPayload reports whether a failed job's payload is a lost job's.
func isLostPayload(b []byte) bool {
	var p struct {
		Lost bool `json:"lost"`
	}
	return json.Unmarshal(b, &p) == nil && p.Lost
}

// recordLostJobs writes lost entries to failed_jobs, one writer per
// process at a time; a failure is logged at most once a minute, and the
// entries wait in Redis for the next claim.
func (d *Driver) recordLostJobs(ctx context.Context) {
	if !d.lostMu.TryLock() {
		return
	}
	defer d.lostMu.Unlock()
	if _, err := d.RecordLostJobs(ctx); err != nil && ctx.Err() == nil {
		now := time.Now().UnixNano()
		last := d.lostWarn.Load()
		if now-last >= int64(time.Minute) && d.lostWarn.CompareAndSwap(last, now) {
			d.log.Error("queue: record lost jobs in failed_jobs; they wait in redis for the next claim", "error", err)
		}
	}
}

// RecordLostJobs writes up to lostBatch entries of the P lost hash to
// failed_jobs, in one SQL transaction, then deletes them from the hash,
// and returns how many it wrote. Claims call it whenever the hash holds
// entries; it is exported for tests and tools.
func (d *Driver) RecordLostJobs(ctx context.Context) (int, error) {
	key := d.key("lost")
	entries := map[string]string{}
	var cursor uint64
	for {
		kv, next, err := d.rdb.HScan(ctx, key, cursor, "*", lostBatch).Result()
		if err != nil {
			return 0, fmt.Errorf("queue: read lost jobs: %w", err)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			entries[kv[i]] = kv[i+1]
		}
		cursor = next
		if cursor == 0 || len(entries) >= lostBatch {
			break
		}
	}
	if len(entries) == 0 {
		return 0, nil
	}
	type row struct {
		field                  string
		uuid, queue, exception string
		payload                string
		failedAt               time.Time
	}
	rows := make([]row, 0, len(entries))
	for field, v := range entries {
		id, err := strconv.ParseInt(field, 10, 64)
		var e lostEntry
		if err == nil {
			err = json.Unmarshal([]byte(v), &e)
		}
		if err != nil {
			// Nothing else writes the hash; an entry that does not parse
			// is still recorded, with what can be read of it.
			e = lostEntry{Queue: "?", State: "unknown"}
		}
		found := time.Unix(e.FoundAt, 0).UTC()
		u := uuid.NewSHA1(lostNamespace, []byte(d.prefix+field+"@"+v)).String()
		payload, err := json.Marshal(lostPayload{
			UUID: u, DisplayName: lostDisplayName, Lost: true,
			Data: lostData{ID: id, Queue: e.Queue, State: e.State, FoundAt: found},
		})
		if err != nil {
			return 0, fmt.Errorf("queue: record lost job %s: %w", field, err)
		}
		rows = append(rows, row{
			field: field, uuid: u, queue: e.Queue, payload: string(payload), failedAt: found,
			exception: fmt.Sprintf("queue: job %s was lost: the job's data was missing from Redis (evicted or deleted); "+
				"its id was still queued (%s, on queue %s) when a worker reached it at %s. "+
				"Its kind and arguments went with its data: there is nothing to run or retry.",
				field, e.State, e.Queue, found.Format(time.RFC3339)),
		})
	}
	err := d.db.InTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, d.failInsert)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, r := range rows {
			if _, err := stmt.ExecContext(ctx, r.uuid, d.name, r.queue, r.payload, r.exception, d.timestamp(r.failedAt), nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("queue: record lost jobs in failed_jobs: %w", err)
	}
	fields := make([]string, len(rows))
	for i, r := range rows {
		fields[i] = r.field
	}
	// The entries are still those read: claims add them with HSETNX, and
	// an id is never queued twice.
	if err := d.rdb.HDel(ctx, key, fields...).Err(); err != nil {
		return 0, fmt.Errorf("queue: delete recorded lost jobs: %w", err)
	}
	return len(rows), nil
}
