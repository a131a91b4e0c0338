package booking

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// GroupCommitter is an optional capability of a Store whose writes go
// through a single writer, such as SQLite. For such a store the service
// commits the bookings that arrive together in one transaction, each in
// its own savepoint: a commit costs the same for one booking as for
// thirty, so under load this multiplies throughput, and every booking
// still succeeds or fails on its own.
type GroupCommitter interface {
	// GroupCommit reports whether bookings should be grouped.
	GroupCommit() bool
	// SavepointTx runs fn inside a savepoint of tx, rolling back to it when
	// fn fails, so that the rest of the transaction survives.
	SavepointTx(ctx context.Context, tx *sql.Tx, fn func() error) error
}

// batcher groups concurrent bookings. There is no background goroutine:
// the first request to arrive while no group is being written becomes the
// leader, writes every queued request (its own included) in one
// transaction, then hands leadership to the first request that queued
// meanwhile.
type batcher struct {
	svc *Service
	gc  GroupCommitter
	max int

	mu      sync.Mutex
	queue   []*batchReq
	running bool
}

type batchReq struct {
	ctx   context.Context
	p     BookParams
	price int64
	b     *Booking
	err   error
	done  bool
	// wake receives when the request is done or has become the leader.
	wake chan struct{}
}

func (q *batcher) book(ctx context.Context, p BookParams, price int64) (*Booking, error) {
	r := &batchReq{ctx: ctx, p: p, price: price, wake: make(chan struct{}, 1)}
	q.mu.Lock()
	q.queue = append(q.queue, r)
	lead := !q.running
	q.running = true
	q.mu.Unlock()
	if !lead {
		<-r.wake
		if r.done {
			return r.b, r.err
		}
		// Woken as the next leader: r is first in the queue.
	}
	q.mu.Lock()
	n := min(len(q.queue), q.max)
	group := q.queue[:n:n]
	q.queue = q.queue[n:]
	q.mu.Unlock()

	q.write(ctx, group)

	q.mu.Lock()
	if len(q.queue) > 0 {
		q.queue[0].wake <- struct{}{}
	} else {
		q.running = false
	}
	q.mu.Unlock()
	for _, g := range group {
		if g != r {
			g.done = true
			g.wake <- struct{}{}
		}
	}
	return r.b, r.err
}

// write commits a group of bookings in one transaction. A request whose
// client has gone away is skipped; the transaction itself runs without the
// leader's cancellation, because it carries the other requests too.
func (q *batcher) write(ctx context.Context, group []*batchReq) {
	txCtx := context.WithoutCancel(ctx)
	err := q.svc.store.InTx(txCtx, func(tx *sql.Tx) error {
		for _, r := range group {
			r.b, r.err = nil, nil
			if err := r.ctx.Err(); err != nil {
				r.err = err
				continue
			}
			err := q.gc.SavepointTx(txCtx, tx, func() error {
				b, err := q.svc.bookTx(txCtx, tx, r.p, r.price)
				r.b = b
				return err
			})
			if err != nil {
				r.b, r.err = nil, err
				var spErr *savepointError
				if errors.As(err, &spErr) {
					return err // the transaction itself is broken
				}
			}
		}
		return nil
	})
	if err != nil {
		for _, r := range group {
			r.b, r.err = nil, err
		}
	}
}

// savepointError marks a failure of the savepoint statements themselves,
// which leaves the transaction unusable.
type savepointError struct{ err error }

func (e *savepointError) Error() string { return "booking: savepoint: " + e.err.Error() }
func (e *savepointError) Unwrap() error { return e.err }

// SavepointFailure wraps an error of a SAVEPOINT, ROLLBACK TO or RELEASE
// statement, so that the group writer aborts the whole transaction instead
// of carrying on in it. GroupCommitter implementations return it.
func SavepointFailure(err error) error { return &savepointError{err: err} }
