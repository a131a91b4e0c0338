package queue

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// The statuses of a job event line.
const (
	statusRunning  = "RUNNING"
	statusDone     = "DONE"
	statusRetry    = "FAIL"
	statusFailed   = "FAILED"
	statusReleased = "RELEASED"
)

// lineWidth is the width of a Laravel-style line, dots included.
const lineWidth = 100

// printer writes one line per job event, as `php artisan queue:work` does:
//
//	2026-11-27 13:00:01 SendInvoiceEmail .......................... RUNNING
//	2026-11-27 13:00:01 SendInvoiceEmail ...................... 12.05ms DONE
//
// or JSON lines. Lines are buffered and flushed every 50ms so that a busy
// worker does not make a write call per job.
type printer struct {
	json bool
	log  *slog.Logger
	loc  *time.Location

	mu   sync.Mutex
	w    *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

func newPrinter(w io.Writer, asJSON bool, log *slog.Logger, loc *time.Location) *printer {
	p := &printer{json: asJSON, log: log, loc: loc}
	if w != nil {
		p.w = bufio.NewWriterSize(w, 32<<10)
		p.stop, p.done = make(chan struct{}), make(chan struct{})
		go p.flusher()
	}
	return p
}

func (p *printer) flusher() {
	defer close(p.done)
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.mu.Lock()
			_ = p.w.Flush()
			p.mu.Unlock()
		}
	}
}

func (p *printer) close() {
	if p.w == nil {
		return
	}
	close(p.stop)
	<-p.done
	p.mu.Lock()
	_ = p.w.Flush()
	p.mu.Unlock()
}

// jobLine is the JSON form of an event.
type jobLine struct {
	Time    string   `json:"time"`
	Status  string   `json:"status"`
	Job     string   `json:"job"`
	ID      int64    `json:"id"`
	UUID    string   `json:"uuid"`
	Queue   string   `json:"queue"`
	Attempt int      `json:"attempt"`
	MS      *float64 `json:"ms,omitempty"`
	Error   string   `json:"error,omitempty"`
}

func (p *printer) event(e *execution, status string, err error) {
	now := time.Now().In(p.loc)
	ms := float64(e.dur.Microseconds()) / 1000
	if p.w == nil {
		// Without a terminal the events are debug records: a busy worker
		// must not write a log line per job. Failures are logged by the
		// engine itself, with their error.
		if status == statusRetry || status == statusFailed || !p.log.Enabled(context.Background(), slog.LevelDebug) {
			return
		}
		level := slog.LevelDebug
		attrs := []any{"job", e.row.Kind, "id", e.row.ID, "queue", e.row.Queue, "attempt", e.row.Attempts}
		if status != statusRunning {
			attrs = append(attrs, "ms", ms)
		}
		p.log.Log(context.Background(), level, "queue: job "+strings.ToLower(status), attrs...)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.json {
		l := jobLine{
			Time: now.Format(time.RFC3339Nano), Status: strings.ToLower(status), Job: e.row.Kind,
			ID: e.row.ID, UUID: e.row.UUID, Queue: e.row.Queue, Attempt: e.row.Attempts,
		}
		if status != statusRunning {
			l.MS = &ms
		}
		if err != nil {
			l.Error = err.Error()
		}
		b, _ := json.Marshal(&l)
		_, _ = p.w.Write(append(b, '\n'))
		return
	}
	left := now.Format(time.DateTime) + " " + e.row.Kind + " "
	right := " " + status
	if status != statusRunning {
		right = " " + formatRunTime(e.dur) + right
	}
	dots := max(lineWidth-len(left)-len(right), 3)
	_, _ = fmt.Fprintf(p.w, "  %s%s%s\n", left, strings.Repeat(".", dots), right)
}

// formatRunTime renders a duration as Laravel does: milliseconds with two
// decimals below a second, seconds above.
func formatRunTime(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000)
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}
