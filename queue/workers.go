package queue

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"sync"

	"github.com/tripintravel/tripin/queue/driver"
)

// Workers is the registry of job handlers by kind. Add every worker before
// the client starts working; adding later is safe but only seen by jobs
// fetched afterwards.
type Workers struct {
	mu    sync.RWMutex
	units map[string]*workUnit
}

// workUnit runs one kind: it decodes the args from the payload's data and
// calls the typed worker.
type workUnit struct {
	kind string
	// defaults are the kind's InsertOpts, when its args provide them.
	defaults *InsertOpts
	// work runs one attempt; tx is the inserting transaction of a job
	// the sync connection runs inline (Job.Tx), else nil.
	work func(ctx context.Context, tx *sql.Tx, row *driver.JobRow, data json.RawMessage) error
	// validate checks raw JSON args strictly (no unknown fields), for
	// dispatches from outside Go such as `queue push`.
	validate func(data json.RawMessage) error
}

// NewWorkers returns an empty registry.
func NewWorkers() *Workers { return &Workers{units: map[string]*workUnit{}} }

// AddWorker registers w for the kind of T. T should be a struct type whose
// Kind method works on its zero value. It panics when the kind is empty or
// already registered, as both are programming errors found at start-up.
func AddWorker[T JobArgs](ws *Workers, w Worker[T]) {
	var zero T
	kind := zero.Kind()
	if kind == "" {
		panic("queue: AddWorker: empty job kind")
	}
	u := &workUnit{
		kind: kind,
		work: func(ctx context.Context, tx *sql.Tx, row *driver.JobRow, data json.RawMessage) error {
			var args T
			if len(data) > 0 && string(data) != "null" {
				if err := json.Unmarshal(data, &args); err != nil {
					return Permanent(fmt.Errorf("queue: decode %s args: %w", kind, err))
				}
			}
			return w.Work(ctx, &Job[T]{JobRow: row, Args: args, Tx: tx})
		},
	}
	u.validate = func(data json.RawMessage) error {
		var args T
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&args); err != nil {
			return fmt.Errorf("queue: %s args: %w", kind, err)
		}
		if dec.More() {
			return fmt.Errorf("queue: %s args: trailing data after the JSON value", kind)
		}
		return nil
	}
	if d, ok := any(zero).(JobArgsWithInsertOpts); ok {
		opts := d.InsertOpts()
		u.defaults = &opts
	}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if _, dup := ws.units[kind]; dup {
		panic("queue: AddWorker: kind " + kind + " registered twice")
	}
	ws.units[kind] = u
}

// Kinds lists the registered kinds, sorted.
func (ws *Workers) Kinds() []string {
	ws.mu.RLock()
	defer ws.mu.RUnlock()
	out := make([]string, 0, len(ws.units))
	for k := range ws.units {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Has reports whether a worker is registered for kind.
func (ws *Workers) Has(kind string) bool { return ws.unit(kind) != nil }

func (ws *Workers) unit(kind string) *workUnit {
	if ws == nil {
		return nil
	}
	ws.mu.RLock()
	defer ws.mu.RUnlock()
	return ws.units[kind]
}

// workFunc adapts a function to Worker.
type workFunc[T JobArgs] func(ctx context.Context, job *Job[T]) error

func (f workFunc[T]) Work(ctx context.Context, job *Job[T]) error { return f(ctx, job) }

// WorkFunc turns a function into a Worker, for handlers that need no state
// of their own.
func WorkFunc[T JobArgs](fn func(ctx context.Context, job *Job[T]) error) Worker[T] {
	return workFunc[T](fn)
}
