package queue

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/tripintravel/tripin/queue/driver"
)

// BatchBuilder collects a batch of jobs and its callbacks, with Laravel's
// semantics: Then jobs run once when every job of the batch has
// succeeded; Catch jobs once, at its first failure; Finally jobs once,
// when every job has run (succeeded or failed for good). Unless
// AllowFailures, the first failure cancels the batch, and workers skip its
// remaining jobs. Start one with Client.Batch.
type BatchBuilder struct {
	c             *Client
	jobs          []InsertManyParams
	then          []InsertManyParams
	catch         []InsertManyParams
	finally       []InsertManyParams
	name          string
	allowFailures bool
	err           error
}

// Batch starts a batch of jobs.
func (c *Client) Batch(jobs ...JobArgs) *BatchBuilder {
	b := &BatchBuilder{c: c}
	for _, j := range jobs {
		b.jobs = append(b.jobs, InsertManyParams{Args: j})
	}
	return b
}

// Add adds a job with its own options.
func (b *BatchBuilder) Add(args JobArgs, opts *InsertOpts) *BatchBuilder {
	b.jobs = append(b.jobs, InsertManyParams{Args: args, Opts: opts})
	return b
}

// Then adds a job to dispatch once every job of the batch has succeeded.
func (b *BatchBuilder) Then(job JobArgs) *BatchBuilder {
	b.then = append(b.then, InsertManyParams{Args: job})
	return b
}

// Catch adds a job to dispatch once, at the batch's first failure.
func (b *BatchBuilder) Catch(job JobArgs) *BatchBuilder {
	b.catch = append(b.catch, InsertManyParams{Args: job})
	return b
}

// Finally adds a job to dispatch once every job of the batch has run.
func (b *BatchBuilder) Finally(job JobArgs) *BatchBuilder {
	b.finally = append(b.finally, InsertManyParams{Args: job})
	return b
}

// AllowFailures keeps the batch going when jobs fail.
func (b *BatchBuilder) AllowFailures() *BatchBuilder {
	b.allowFailures = true
	return b
}

// Name names the batch (shown by `queue batches` and the dashboard).
func (b *BatchBuilder) Name(name string) *BatchBuilder {
	b.name = name
	return b
}

// batchOptions is what job_batches.options holds: the rendered callback
// jobs, so that any worker can dispatch them.
type batchOptions struct {
	AllowFailures bool          `json:"allowFailures"`
	Then          []callbackJob `json:"then,omitempty"`
	Catch         []callbackJob `json:"catch,omitempty"`
	Finally       []callbackJob `json:"finally,omitempty"`
}

type callbackJob struct {
	Queue       string          `json:"queue"`
	Kind        string          `json:"kind"`
	MaxAttempts int             `json:"maxAttempts"`
	Payload     json.RawMessage `json:"payload"`
}

// Dispatch stores the batch and inserts its jobs. The batch row is written
// first, so no job of it can run before its counters exist.
func (b *BatchBuilder) Dispatch(ctx context.Context) (*driver.Batch, error) {
	return b.dispatch(ctx, nil)
}

// DispatchTx stores the batch and its jobs within tx: they exist only if
// tx commits.
func (b *BatchBuilder) DispatchTx(ctx context.Context, tx *sql.Tx) (*driver.Batch, error) {
	if tx == nil {
		return nil, errors.New("queue: dispatch batch: nil transaction")
	}
	return b.dispatch(ctx, tx)
}

func (b *BatchBuilder) dispatch(ctx context.Context, tx *sql.Tx) (*driver.Batch, error) {
	bs, err := b.c.batches()
	if err != nil {
		return nil, fmt.Errorf("queue: dispatch batch: %w", err)
	}
	if len(b.jobs) == 0 {
		return nil, errors.New("queue: dispatch batch: no jobs")
	}
	id := uuid.NewString()
	opts := batchOptions{AllowFailures: b.allowFailures}
	for _, cb := range []struct {
		in  []InsertManyParams
		out *[]callbackJob
	}{{b.then, &opts.Then}, {b.catch, &opts.Catch}, {b.finally, &opts.Finally}} {
		for _, p := range cb.in {
			ip, err := b.c.buildInsert(p.Args, p.Opts)
			if err != nil {
				return nil, fmt.Errorf("queue: dispatch batch: callback: %w", err)
			}
			*cb.out = append(*cb.out, callbackJob{Queue: ip.Queue, Kind: ip.Kind, MaxAttempts: ip.MaxAttempts, Payload: ip.Payload})
		}
	}
	options, err := json.Marshal(opts)
	if err != nil {
		return nil, fmt.Errorf("queue: dispatch batch: %w", err)
	}
	ps := make([]*driver.JobInsertParams, len(b.jobs))
	for i, p := range b.jobs {
		ip, err := b.c.buildInsert(p.Args, p.Opts)
		if err != nil {
			return nil, fmt.Errorf("queue: dispatch batch: %w", err)
		}
		// A unique key could skip a job and leave the batch pending for
		// ever, so batch jobs have none.
		ip.UniqueKey = ""
		ip.BatchID = id
		ip.Payload = withBatchID(ip.Payload, id)
		ps[i] = ip
	}
	cp := &driver.BatchCreateParams{ID: id, Name: b.name, TotalJobs: len(ps), Options: options}
	var bt *driver.Batch
	if tx != nil {
		if bt, err = bs.BatchCreateTx(ctx, tx, cp); err != nil {
			return nil, err
		}
		if _, err := b.c.driver.JobInsertManyTx(ctx, tx, ps); err != nil {
			return nil, fmt.Errorf("queue: dispatch batch: %w", err)
		}
	} else {
		if bt, err = bs.BatchCreate(ctx, cp); err != nil {
			return nil, err
		}
		if _, err := b.c.driver.JobInsertMany(ctx, ps); err != nil {
			// Nothing of the batch will run: say so in its row.
			_, _ = bs.BatchCancel(context.WithoutCancel(ctx), id)
			return nil, fmt.Errorf("queue: dispatch batch: %w", err)
		}
	}
	queues := map[string]bool{}
	for _, p := range ps {
		queues[p.Queue] = true
	}
	b.c.notify.publish(queues)
	return bt, nil
}

// withBatchID adds "batchId" to a payload, so that the job keeps its batch
// when it is retried from failed_jobs and callbacks can find theirs.
func withBatchID(payload []byte, id string) []byte {
	p := bytes.TrimRight(payload, " \n")
	if len(p) < 2 || p[len(p)-1] != '}' {
		return payload
	}
	idJSON, _ := json.Marshal(id)
	out := make([]byte, 0, len(p)+len(idJSON)+12)
	out = append(out, p[:len(p)-1]...)
	if len(bytes.TrimSpace(p[1:len(p)-1])) > 0 {
		out = append(out, ',')
	}
	out = append(out, `"batchId":`...)
	out = append(out, idJSON...)
	return append(out, '}')
}

// BatchIDOf returns the batch a job belongs to, or that a callback job
// was dispatched for ("" when neither).
func BatchIDOf(row *driver.JobRow) string {
	if row.BatchID != "" {
		return row.BatchID
	}
	var p struct {
		BatchID string `json:"batchId"`
	}
	_ = json.Unmarshal(row.Payload, &p)
	return p.BatchID
}

// batches returns the batch storage of the client's driver, or
// ErrNoAdmin when it keeps none (the sync connection).
func (c *Client) batches() (driver.Batches, error) {
	bs, ok := c.driver.(driver.Batches)
	if !ok {
		return nil, ErrNoAdmin
	}
	return bs, nil
}

// BatchFind returns a batch by id.
func (c *Client) BatchFind(ctx context.Context, id string) (*driver.Batch, error) {
	bs, err := c.batches()
	if err != nil {
		return nil, err
	}
	return bs.BatchGet(ctx, id)
}

// BatchCancel cancels a batch: workers skip its jobs that have not started.
func (c *Client) BatchCancel(ctx context.Context, id string) (*driver.Batch, error) {
	bs, err := c.batches()
	if err != nil {
		return nil, err
	}
	return bs.BatchCancel(ctx, id)
}

// recordBatch records a batch job's end and dispatches the callbacks
// whose moment it is. The counters move under the batch row's lock, once
// per job and only in one direction (pending down, failed up), so each
// moment is seen by exactly one job, whichever worker or server runs it,
// however many times it runs.
func (o *Ops) recordBatch(ctx context.Context, row *driver.JobRow, failed bool) error {
	bt, err := o.adm.BatchGet(ctx, row.BatchID)
	if errors.Is(err, driver.ErrNotFound) {
		return nil // pruned or never stored: nothing to count
	}
	if err != nil {
		return err
	}
	// Options that cannot be read will not be readable on a retry either:
	// the job's outcome must not wait for them, so the counters move with
	// no callbacks, and the loss is logged.
	var opts batchOptions
	if len(bt.Options) > 0 {
		if err := json.Unmarshal(bt.Options, &opts); err != nil {
			o.log.Error("queue: batch options unreadable; its callbacks are skipped", "batch", bt.ID, "error", err)
			opts = batchOptions{}
		}
	}
	// The callbacks are inserted in the transaction that moves the
	// counters: both commit, or neither and the job's outcome is not
	// written either, so the job runs again and comes back here.
	dispatch := func(ctx context.Context, tx *sql.Tx, out *driver.BatchOutcome) error {
		before, after := out.Before, out.Batch
		var fire []callbackJob
		if !failed && after.PendingJobs == 0 && before.PendingJobs > 0 && !after.Cancelled() {
			fire = append(fire, opts.Then...)
		}
		if failed && after.FailedJobs == 1 && before.FailedJobs == 0 {
			fire = append(fire, opts.Catch...)
		}
		if after.PendingJobs-after.FailedJobs == 0 && before.PendingJobs-before.FailedJobs > 0 {
			fire = append(fire, opts.Finally...)
		}
		if len(fire) == 0 {
			return nil
		}
		ps := make([]*driver.JobInsertParams, 0, len(fire))
		for _, cb := range fire {
			id := uuid.NewString()
			payload, err := renewPayload(cb.Payload, id, bt.ID)
			if err != nil {
				o.log.Error("queue: batch callback unreadable; skipped", "batch", bt.ID, "job", cb.Kind, "error", err)
				continue
			}
			ps = append(ps, &driver.JobInsertParams{UUID: id, Queue: cb.Queue, Kind: cb.Kind, Payload: payload, MaxAttempts: cb.MaxAttempts})
		}
		if len(ps) == 0 {
			return nil
		}
		if _, err := o.d.JobInsertManyTx(ctx, tx, ps); err != nil {
			return fmt.Errorf("batch %s: dispatch callbacks: %w", bt.ID, err)
		}
		return nil
	}
	params := &driver.BatchRecordOutcomeParams{
		BatchID: row.BatchID, JobUUID: row.UUID, Failed: failed, CancelOnFailure: !opts.AllowFailures, Then: dispatch,
	}
	// A worker that lost the job's lease records nothing: the job's new
	// holder will.
	if cc, ok := o.d.(driver.ClaimChecker); ok && row.ReservedBy != "" {
		params.Held = func(ctx context.Context, tx *sql.Tx) (bool, error) {
			return cc.ClaimHeldTx(ctx, tx, row.ReservedBy, driver.LeaseOf(row))
		}
	}
	_, err = o.adm.BatchRecordOutcome(ctx, params)
	return err
}

// renewPayload gives a stored callback payload its own uuid and the batch
// it was dispatched for.
func renewPayload(stored []byte, id, batchID string) ([]byte, error) {
	var p Payload
	if err := json.Unmarshal(stored, &p); err != nil {
		return nil, fmt.Errorf("queue: batch callback payload: %w", err)
	}
	p.UUID = id
	b, err := json.Marshal(&p)
	if err != nil {
		return nil, err
	}
	return withBatchID(b, batchID), nil
}
