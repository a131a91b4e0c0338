package queue

import (
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"
	"strings"
	"time"
)

// ErrTooManyAbandoned is returned by Run when too many jobs ignored their
// timeout and had to be abandoned: their goroutines still run, so the
// process should exit and let its supervisor start a fresh one.
var ErrTooManyAbandoned = errors.New("queue: too many abandoned jobs")

// ErrMemoryExceeded is returned by Run when the process used more memory
// than WorkParams.MemoryLimit (Laravel's --memory); the supervisor restarts it.
var ErrMemoryExceeded = errors.New("queue: memory limit exceeded")

// permanentError marks an error that must not be retried.
type permanentError struct{ err error }

func (e *permanentError) Error() string {
	if e.err == nil {
		return "permanent failure"
	}
	return e.err.Error()
}

func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as permanent: the job fails now, whatever tries it
// has left (an SMTP 5xx, a booking that no longer exists). Permanent(nil)
// is still a failure.
func Permanent(err error) error { return &permanentError{err: err} }

// IsPermanent reports whether err, or any error it wraps, was marked with
// Permanent.
func IsPermanent(err error) bool {
	var pe *permanentError
	return errors.As(err, &pe)
}

// snoozeError asks for a retry after a delay without using an attempt.
type snoozeError struct{ d time.Duration }

func (e *snoozeError) Error() string { return fmt.Sprintf("snoozed for %s", e.d) }

// Snooze returns an error that puts the job back on its queue for d without
// counting the attempt against its tries (a rate limit, a resource not
// ready yet). A negative d is treated as 0.
func Snooze(d time.Duration) error { return &snoozeError{d: max(d, 0)} }

// IsSnooze reports whether err asks for a snooze, and for how long.
func IsSnooze(err error) (time.Duration, bool) {
	var se *snoozeError
	if errors.As(err, &se) {
		return se.d, true
	}
	return 0, false
}

// panicError is the error of an attempt whose handler panicked.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

// timeoutError is the error of an attempt that ran past its timeout.
type timeoutError struct {
	timeout   time.Duration
	abandoned bool
	err       error
}

func (e *timeoutError) Error() string {
	if e.abandoned {
		return fmt.Sprintf("job timed out after %s and ignored cancellation; abandoned", e.timeout)
	}
	if e.err != nil {
		return fmt.Sprintf("job timed out after %s: %v", e.timeout, e.err)
	}
	return fmt.Sprintf("job timed out after %s", e.timeout)
}

func (e *timeoutError) Unwrap() error { return e.err }

// scrub applies Config.ScrubError to an error text about to be stored.
func (c *Client) scrub(s string) string {
	if c.cfg.ScrubError == nil {
		return s
	}
	return c.cfg.ScrubError(s)
}

// ErrorChain renders err for failed_jobs.exception and jobs.last_error: the
// message, then each wrapped error with its type, and for a panic the
// stack of the goroutine that panicked.
func ErrorChain(err error) string {
	if err == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString(err.Error())
	var stack []byte
	var walk func(e error, depth int)
	walk = func(e error, depth int) {
		if e == nil || depth > 32 {
			return
		}
		fmt.Fprintf(&b, "\n%scaused by %s: %s", strings.Repeat("  ", depth), typeName(e), e.Error())
		if pe, ok := e.(*panicError); ok {
			stack = pe.stack
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x, depth+1)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap(), depth+1)
		}
	}
	walk(err, 0)
	if len(stack) > 0 {
		b.WriteString("\n\n")
		b.Write(stack)
	}
	return b.String()
}

func typeName(e error) string {
	t := reflect.TypeOf(e)
	if t == nil {
		return "<nil>"
	}
	return t.String()
}

// stack returns the calling goroutine's stack, for panics.
func stack() []byte { return debug.Stack() }
