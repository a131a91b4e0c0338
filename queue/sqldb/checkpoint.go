package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"time"
)

// SQLite's write-ahead log is kept small by a background checkpointer
// instead of by the commits themselves (the writer runs with
// wal_autocheckpoint=0, so no booking ever waits for a checkpoint it
// triggered). Two kinds of checkpoint share the work:
//
//   - Every CheckpointInterval a PASSIVE checkpoint, on a connection of its
//     own, copies into the database file every WAL frame that no reader
//     still needs. It takes no lock that writers or readers wait for.
//   - PASSIVE alone never lets the log start over while some reader holds a
//     snapshot, and under load the read pool, the dashboard, /metrics and
//     the worker keep one open almost all the time: the log would grow
//     without end (checkpoint starvation; a user measured 2.2 GB in a
//     minute). So once the log holds WALRestartBytes, a RESTART checkpoint
//     runs on the writer connection: it takes the write lock, copies the
//     frames the PASSIVE ones could not, waits for the readers of older
//     snapshots to finish their statements (new readers read the database
//     file, so they do not hold it up) and resets the log, which the next
//     commit then overwrites from the start. journal_size_limit makes that
//     commit truncate the file back to WALRestartBytes.
//   - After IdleTruncateAfter without a write, a TRUNCATE checkpoint
//     empties the WAL file, giving the disk space back once a burst is over.
//
// A RESTART blocks every writer while it runs, so the time it may hold the
// writer is bounded: it gives up after RestartWait (the bookings that
// waited go on, and a later tick tries again). Each attempt that runs out
// of time doubles the pause before the next one, up to MaxRestartBackoff,
// so readers slower than that (or starved of CPU) do not hold the writer
// back again and again; a success starts over. Only once the log holds
// twice WALRestartBytes, because the short attempts kept failing, does an
// attempt run at once and hold the writer for up to MaxRestartWait: the
// bound on the WAL then wins over a booking's latency (readers that are
// merely slow finish well within it). A snapshot that is never let go (a
// read transaction left open in an sqlite3 shell) keeps any checkpoint
// from resetting the log: then the long attempts back off too, and the
// writer is held for at most MaxRestartWait every MaxRestartBackoff.
const (
	// CheckpointInterval is how often the PASSIVE checkpoint runs and the
	// log's size is looked at.
	CheckpointInterval = 100 * time.Millisecond
	// WALRestartBytes is the log size at which a RESTART checkpoint resets
	// it, and the size the WAL file is truncated back to afterwards
	// (OpenParams.WALRestartBytes changes it).
	WALRestartBytes = 16 << 20
	// RestartWait bounds how long a RESTART checkpoint may hold the writer.
	RestartWait = 100 * time.Millisecond
	// MaxRestartWait bounds it once the log holds 2 × WALRestartBytes.
	MaxRestartWait = time.Second
	// MaxRestartBackoff is the longest pause between two RESTART attempts
	// after attempts that ran out of time.
	MaxRestartBackoff = 10 * time.Second
	// IdleTruncateAfter is how long the log must go unwritten before the
	// WAL file is truncated to zero bytes.
	IdleTruncateAfter = time.Second
)

// walHeaderBytes and walFrameHeaderBytes are the sizes of SQLite's WAL file
// header and of the header before each page in it.
const (
	walHeaderBytes      = 32
	walFrameHeaderBytes = 24
)

// checkpointResult is what one PRAGMA wal_checkpoint reported.
type checkpointResult struct {
	// Busy is true when the checkpoint could not finish: a PASSIVE one
	// because readers still needed frames, a RESTART or TRUNCATE one
	// because readers or a writer did not let go within its wait.
	Busy bool
	// LogFrames is the number of frames in the log after the checkpoint
	// (0 after a TRUNCATE; a RESTART leaves the count for the next commit
	// to reset) and CheckpointedFrames how many of them are in the
	// database file.
	LogFrames, CheckpointedFrames int64
}

// checkpointer is the background loop that keeps a SQLite database's WAL
// small (see the constants above), with the start/stop pair of the
// application's other background loops.
type checkpointer struct {
	passive  *sql.DB // a connection of its own, for PASSIVE checkpoints
	writer   *sql.DB // the single writer connection, for RESTART and TRUNCATE
	walPath  string
	pageSize int64
	// restartBytes is the log size that asks for a RESTART.
	restartBytes int64

	cancel  context.CancelFunc
	stopped chan struct{}

	// The loop's own state, touched by its goroutine only: the log's size
	// at the previous tick and when it last changed; its size when the
	// last RESTART succeeded; how many RESTART attempts in a row ran out
	// of time, whether the last of them was a long one, and when the next
	// may start.
	lastLog        int64
	lastWriteAt    time.Time
	restartedLog   int64
	failures       int
	lastFailUrgent bool
	nextRestartAt  time.Time
}

// newCheckpointer prepares a checkpointer for the database file path
// that resets the log once it holds restartBytes. passive becomes the
// checkpointer's, closed by stop; writer stays the caller's.
func newCheckpointer(passive, writer *sql.DB, path string, restartBytes int64) *checkpointer {
	return &checkpointer{passive: passive, writer: writer, walPath: path + "-wal", restartBytes: restartBytes,
		lastLog: -1, restartedLog: -1}
}

// start runs the loop until stop is called.
func (c *checkpointer) start() {
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel, c.stopped = cancel, make(chan struct{})
	go func() {
		defer close(c.stopped)
		t := time.NewTicker(CheckpointInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				c.tick(ctx)
			}
		}
	}()
}

// stop ends the loop, interrupting a checkpoint in progress, and closes
// the PASSIVE connection.
func (c *checkpointer) stop() {
	c.cancel()
	<-c.stopped
	c.passive.Close()
}

// tick runs one round: a PASSIVE checkpoint, then a RESTART when the log
// is too big or a TRUNCATE when it has gone unwritten for a while. Errors
// and busy checkpoints are left to a later tick, which tries again.
func (c *checkpointer) tick(ctx context.Context) {
	if c.pageSize == 0 {
		if err := c.passive.QueryRowContext(ctx, "PRAGMA page_size").Scan(&c.pageSize); err != nil {
			return
		}
	}
	res, err := checkpoint(ctx, c.passive, "PASSIVE")
	if err != nil {
		return
	}
	now := time.Now()
	if res.LogFrames != c.lastLog {
		c.lastLog, c.lastWriteAt = res.LogFrames, now
	}
	// A RESTART leaves the log's frame count as it was: the next commit
	// starts the log over. Until one does, there is nothing to restart.
	if c.logBytes(res.LogFrames) >= c.restartBytes && res.LogFrames != c.restartedLog {
		// Past twice the size, the long attempt runs at once, unless the
		// last one to fail was long too.
		urgent := c.logBytes(res.LogFrames) >= 2*c.restartBytes
		if now.Before(c.nextRestartAt) && (!urgent || c.lastFailUrgent) {
			return
		}
		wait := RestartWait
		if urgent {
			wait = MaxRestartWait
		}
		r, err := c.bounded(ctx, "RESTART", wait)
		if err == nil && !r.Busy {
			c.failures, c.lastFailUrgent, c.restartedLog = 0, false, r.LogFrames
			return
		}
		if ctx.Err() != nil {
			return
		}
		c.failures, c.lastFailUrgent = min(c.failures+1, 16), urgent
		c.nextRestartAt = time.Now().Add(min(CheckpointInterval<<c.failures, MaxRestartBackoff))
		return
	}
	if now.Sub(c.lastWriteAt) < IdleTruncateAfter || res.CheckpointedFrames != res.LogFrames {
		return
	}
	if fi, err := os.Stat(c.walPath); err != nil || fi.Size() == 0 {
		return
	}
	_, _ = c.bounded(ctx, "TRUNCATE", RestartWait)
}

// logBytes is the size of a log of n frames.
func (c *checkpointer) logBytes(n int64) int64 {
	if n == 0 {
		return 0
	}
	return walHeaderBytes + n*(c.pageSize+walFrameHeaderBytes)
}

// bounded runs a RESTART or TRUNCATE checkpoint on the writer connection,
// holding it for at most wait: when the time is up, the busy handler stops
// waiting for readers and a copy in progress is interrupted (it is safe to
// stop a checkpoint anywhere; the next one starts over), so no booking
// waits longer than that for it. Waiting for the connection, behind the
// transaction in progress, holds nothing up and is not counted.
func (c *checkpointer) bounded(ctx context.Context, mode string, wait time.Duration) (checkpointResult, error) {
	conn, err := c.writer.Conn(ctx)
	if err != nil {
		return checkpointResult{}, fmt.Errorf("sqldb: sqlite: %s checkpoint: %w", mode, err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	return checkpoint(ctx, conn, mode)
}

// rowQuerier is a pool or one of its connections.
type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// checkpoint runs PRAGMA wal_checkpoint(mode) on db.
func checkpoint(ctx context.Context, db rowQuerier, mode string) (checkpointResult, error) {
	var busy int
	var r checkpointResult
	err := db.QueryRowContext(ctx, "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &r.LogFrames, &r.CheckpointedFrames)
	if err != nil {
		return r, fmt.Errorf("sqldb: sqlite: %s checkpoint: %w", mode, err)
	}
	r.Busy = busy != 0
	return r, nil
}
