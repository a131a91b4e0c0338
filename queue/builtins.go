package queue

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// NoopArgs is the built-in job that does nothing, for verification and
// benchmarks.
type NoopArgs struct{}

// Kind returns "noop".
func (NoopArgs) Kind() string { return "noop" }

// SleepArgs is the built-in job that sleeps MS milliseconds (or until its
// context ends).
type SleepArgs struct {
	MS int `json:"ms"`
}

// Kind returns "sleep".
func (SleepArgs) Kind() string { return "sleep" }

// FailArgs is the built-in job that always returns an error (Message, or
// a default one).
type FailArgs struct {
	Message string `json:"message,omitempty"`
}

// Kind returns "fail".
func (FailArgs) Kind() string { return "fail" }

// RegisterBuiltins adds the workers of the built-in kinds noop, sleep and
// fail to ws.
func RegisterBuiltins(ws *Workers) {
	AddWorker(ws, WorkFunc(func(ctx context.Context, job *Job[NoopArgs]) error { return nil }))
	AddWorker(ws, WorkFunc(func(ctx context.Context, job *Job[SleepArgs]) error {
		if job.Args.MS < 0 {
			return Permanent(fmt.Errorf("sleep: negative ms %d", job.Args.MS))
		}
		t := time.NewTimer(time.Duration(job.Args.MS) * time.Millisecond)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return fmt.Errorf("sleep: %w", ctx.Err())
		case <-t.C:
			return nil
		}
	}))
	AddWorker(ws, WorkFunc(func(ctx context.Context, job *Job[FailArgs]) error {
		msg := job.Args.Message
		if msg == "" {
			msg = "the fail job always fails"
		}
		return errors.New(msg)
	}))
}
