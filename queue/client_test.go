package queue_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/queuetest"
	"github.com/tripintravel/tripin/queue/sqldb"
)

func TestInsertPayloadShape(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		c := h.client()
		until := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
		id := h.insert(c, testArgs{N: 7, Name: "x"}, &queue.InsertOpts{
			Tries: 4, Timeout: 90 * time.Second, Backoff: []time.Duration{10 * time.Second, 30 * time.Second, 1500 * time.Millisecond},
			RetryUntil: until,
		})
		var payload, kind, queueName string
		var maxAttempts int
		require.NoError(t, h.db.QueryRow(h.db.Rebind("SELECT payload, kind, queue, max_attempts FROM jobs WHERE id = ?"), id).
			Scan(&payload, &kind, &queueName, &maxAttempts))
		require.Equal(t, "Test", kind)
		require.Equal(t, "default", queueName)
		require.Equal(t, 4, maxAttempts)

		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(payload), &m))
		require.Equal(t, "Test", m["displayName"])
		require.Equal(t, "Test", m["job"])
		require.Len(t, m["uuid"], 36)
		require.EqualValues(t, 4, m["maxTries"])
		require.EqualValues(t, 90, m["timeout"])
		require.Equal(t, "10,30,1.5", m["backoff"])
		require.EqualValues(t, until.Unix(), m["retryUntil"])
		require.Equal(t, map[string]any{"n": float64(7), "name": "x"}, m["data"])

		// Options nobody set stay null, so the worker's flags apply.
		id = h.insert(c, testArgs{N: 1}, nil)
		require.NoError(t, h.db.QueryRow(h.db.Rebind("SELECT payload, max_attempts FROM jobs WHERE id = ?"), id).Scan(&payload, &maxAttempts))
		require.NoError(t, json.Unmarshal([]byte(payload), &m))
		for _, k := range []string{"maxTries", "timeout", "backoff", "retryUntil"} {
			v, ok := m[k]
			require.True(t, ok, k)
			require.Nil(t, v, k)
		}
		require.Equal(t, queue.DefaultTries, maxAttempts)
	})
}

func TestInsertKindDefaultsAndOverrides(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		c := h.client()
		var q string
		var tries int
		id := h.insert(c, mailArgs{To: "a@example.com"}, nil)
		require.NoError(t, h.db.QueryRow(h.db.Rebind("SELECT queue, max_attempts FROM jobs WHERE id = ?"), id).Scan(&q, &tries))
		require.Equal(t, "emails", q)
		require.Equal(t, 3, tries)

		id = h.insert(c, mailArgs{To: "a@example.com"}, &queue.InsertOpts{Queue: "urgent", Tries: queue.TriesUnlimited})
		var payload string
		require.NoError(t, h.db.QueryRow(h.db.Rebind("SELECT queue, max_attempts, payload FROM jobs WHERE id = ?"), id).Scan(&q, &tries, &payload))
		require.Equal(t, "urgent", q)
		require.Equal(t, 0, tries)
		p, err := queue.DecodePayload([]byte(payload))
		require.NoError(t, err)
		require.Equal(t, 0, *p.MaxTries)
		require.Equal(t, 120.0, *p.Timeout, "the kind's timeout still applies")
		require.Equal(t, "10,30", *p.Backoff)
	})
}

func TestInsertDelayAndRunAt(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		clock := h.withClock()
		c := h.client()
		now := clock.Now()
		id := h.insert(c, testArgs{}, &queue.InsertOpts{Delay: 90 * time.Second})
		require.Equal(t, now.Unix()+90, h.job(id).availableAt)
		at := now.Add(time.Hour)
		id = h.insert(c, testArgs{}, &queue.InsertOpts{RunAt: at})
		require.Equal(t, at.Unix(), h.job(id).availableAt)

		h.handle(func(ctx context.Context, job *queue.Job[testArgs]) error { return nil })
		require.NoError(t, h.run(c, params(func(p *queue.WorkParams) { p.StopWhenEmpty = true })))
		require.Equal(t, 2, h.count("SELECT COUNT(*) FROM jobs"), "delayed jobs must not run early")
		clock.Advance(91 * time.Second)
		require.NoError(t, h.run(c, params(func(p *queue.WorkParams) { p.StopWhenEmpty = true })))
		require.Equal(t, 1, h.count("SELECT COUNT(*) FROM jobs"))
	})
}

func TestInsertManyIsOneDriverCall(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		cd := &countingDriver{Driver: h.d}
		h.d = cd
		c := h.client()
		var ps []queue.InsertManyParams
		for i := range 250 {
			ps = append(ps, queue.InsertManyParams{Args: testArgs{N: i}})
		}
		ps = append(ps, queue.InsertManyParams{Args: mailArgs{To: "x"}, Opts: &queue.InsertOpts{Queue: "q2"}})
		res, err := c.InsertMany(context.Background(), ps)
		require.NoError(t, err)
		require.Len(t, res, 251)
		require.EqualValues(t, 1, cd.inserts.Load())
		require.Equal(t, 250, h.count("SELECT COUNT(*) FROM jobs WHERE queue = 'default'"))
		require.Equal(t, 1, h.count("SELECT COUNT(*) FROM jobs WHERE queue = 'q2'"))
	})
}

func TestUniqueKey(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		c := h.client()
		opts := &queue.InsertOpts{UniqueKey: "eticket:42"}
		first, err := c.Insert(context.Background(), testArgs{N: 1}, opts)
		require.NoError(t, err)
		require.False(t, first.Skipped)
		second, err := c.Insert(context.Background(), testArgs{N: 2}, opts)
		require.NoError(t, err)
		require.True(t, second.Skipped)
		require.Equal(t, 1, h.count("SELECT COUNT(*) FROM jobs"))

		// Once the job has run, the key is free again.
		h.handle(func(ctx context.Context, job *queue.Job[testArgs]) error { return nil })
		require.NoError(t, h.run(c, params(func(p *queue.WorkParams) { p.StopWhenEmpty = true })))
		third, err := c.Insert(context.Background(), testArgs{N: 3}, opts)
		require.NoError(t, err)
		require.False(t, third.Skipped)
	})
}

func TestInsertTx(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		c := h.client()
		ctx := context.Background()

		tx, err := h.db.BeginTx(ctx, nil)
		require.NoError(t, err)
		res, err := c.InsertTx(ctx, tx, testArgs{N: 1}, nil)
		require.NoError(t, err)
		require.NoError(t, tx.Rollback())
		require.False(t, h.job(res.ID).exists, "rolled back insert must leave no job")

		tx, err = h.db.BeginTx(ctx, nil)
		require.NoError(t, err)
		res, err = c.InsertTx(ctx, tx, testArgs{N: 2}, nil)
		require.NoError(t, err)
		require.NoError(t, tx.Commit())
		require.True(t, h.job(res.ID).exists)
		require.Equal(t, 1, h.count("SELECT COUNT(*) FROM jobs"))
	})
}

func TestInsertRawArgs(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		queue.RegisterBuiltins(h.ws)
		c := h.client()
		ctx := context.Background()

		_, err := c.Insert(ctx, queue.RawArgs{KindName: "nope", JSON: []byte(`{}`)}, nil)
		require.ErrorContains(t, err, `unknown job kind "nope"`)
		for _, bad := range []string{`{"ms":`, `{"ms":"ten"}`, `{"msec":10}`, `[1]`, `{"ms":1} {}`} {
			_, err = c.Insert(ctx, queue.RawArgs{KindName: "sleep", JSON: []byte(bad)}, nil)
			require.Error(t, err, bad)
		}
		require.Equal(t, 0, h.count("SELECT COUNT(*) FROM jobs"), "bad dispatches insert nothing")

		res, err := c.Insert(ctx, queue.RawArgs{KindName: "sleep", JSON: []byte(` { "ms" : 5 } `)}, &queue.InsertOpts{Queue: "bench"})
		require.NoError(t, err)
		var payload string
		require.NoError(t, h.db.QueryRow(h.db.Rebind("SELECT payload FROM jobs WHERE id = ? AND queue = 'bench'"), res.ID).Scan(&payload))
		require.Contains(t, payload, `"data":{"ms":5}`)
	})
}

func TestSyncConnection(t *testing.T) {
	ws := queue.NewWorkers()
	var got []int
	queue.AddWorker(ws, queue.WorkFunc(func(ctx context.Context, job *queue.Job[testArgs]) error {
		if job.Args.N < 0 {
			return errors.New("negative")
		}
		_, hasDeadline := ctx.Deadline()
		require.True(t, hasDeadline, "sync jobs get their timeout too")
		got = append(got, job.Args.N)
		return nil
	}))
	c, err := queue.NewClient(nil, &queue.Config{Workers: ws, Connection: queue.ConnectionSync})
	require.NoError(t, err)
	require.Equal(t, "sync", c.Connection())
	ctx := context.Background()

	_, err = c.Insert(ctx, testArgs{N: 1}, &queue.InsertOpts{Delay: time.Hour})
	require.NoError(t, err)
	_, err = c.InsertMany(ctx, []queue.InsertManyParams{{Args: testArgs{N: 2}}, {Args: testArgs{N: 3}}})
	require.NoError(t, err)
	require.Equal(t, []int{1, 2, 3}, got)

	_, err = c.Insert(ctx, testArgs{N: -1}, nil)
	require.ErrorContains(t, err, "negative")
	_, err = c.Insert(ctx, mailArgs{}, nil)
	require.ErrorContains(t, err, "no worker registered")

	// A sync worker has nothing to do and waits for its stop.
	rctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	require.NoError(t, c.Run(rctx, queue.WorkParams{}))
}

// TestSyncJobSeesItsTransaction: a job the sync connection runs inside
// InsertTx gets the inserting transaction as Job.Tx and reads the rows
// written in it before they commit; a plain Insert passes none.
func TestSyncJobSeesItsTransaction(t *testing.T) {
	db := queuetest.OpenDB(t, sqldb.SQLite)
	ctx := context.Background()
	_, err := db.ExecContext(ctx, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
	require.NoError(t, err)
	ws := queue.NewWorkers()
	var read []string
	var sawTx []bool
	queue.AddWorker(ws, queue.WorkFunc(func(ctx context.Context, job *queue.Job[testArgs]) error {
		sawTx = append(sawTx, job.Tx != nil)
		if job.Tx == nil {
			return nil
		}
		var body string
		if err := job.Tx.QueryRowContext(ctx, "SELECT body FROM notes WHERE id = ?", job.Args.N).Scan(&body); err != nil {
			return err
		}
		read = append(read, body)
		return nil
	}))
	c, err := queue.NewClient(nil, &queue.Config{Workers: ws, Connection: queue.ConnectionSync})
	require.NoError(t, err)

	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = tx.ExecContext(ctx, "INSERT INTO notes (id, body) VALUES (7, 'written in the transaction')")
	require.NoError(t, err)
	_, err = c.InsertTx(ctx, tx, testArgs{N: 7}, nil)
	require.NoError(t, err)
	require.NoError(t, tx.Rollback())
	_, err = c.Insert(ctx, testArgs{N: 7}, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"written in the transaction"}, read)
	require.Equal(t, []bool{true, false}, sawTx)
}

func TestInsertValidation(t *testing.T) {
	c, err := queue.NewClient(nil, &queue.Config{Connection: queue.ConnectionSync})
	require.NoError(t, err)
	ctx := context.Background()
	_, err = c.Insert(ctx, nil, nil)
	require.Error(t, err)
	_, err = c.Insert(ctx, testArgs{}, &queue.InsertOpts{Tries: -5})
	require.Error(t, err)
	_, err = c.Insert(ctx, testArgs{}, &queue.InsertOpts{Delay: -time.Second})
	require.Error(t, err)
	_, err = c.Insert(ctx, testArgs{}, &queue.InsertOpts{Backoff: []time.Duration{-1}})
	require.True(t, err != nil && strings.Contains(err.Error(), "backoff"))
}
