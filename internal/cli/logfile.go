package cli

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
)

// logFile is LOG_FILE as every logger of a command writes to it: one file
// handle, reopened at the same path on SIGHUP so that logrotate can rotate
// it. logrotate renames the file and then sends SIGHUP; until the process
// reopens the path, lines still go to the renamed file (delaycompress
// leaves it uncompressed until the next rotation, so they are kept), and
// from then on to a new file at the configured path. slog writes each
// record with one Write, and Write and Reopen exclude each other, so no
// line is split between the two files or lost between them.
type logFile struct {
	path string

	mu sync.Mutex
	f  *os.File // nil once closed
}

// openLogFile opens path for appending, creating it and its directory.
func openLogFile(path string) (*logFile, error) {
	f, err := openLogPath(path)
	if err != nil {
		return nil, err
	}
	return &logFile{path: path, f: f}, nil
}

func openLogPath(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("config: LOG_FILE: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("config: LOG_FILE: %w", err)
	}
	return f, nil
}

// Write appends p to the file open now.
func (l *logFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return 0, os.ErrClosed
	}
	return l.f.Write(p)
}

// Reopen opens the configured path again and makes it the file written
// to, then closes the previous one. When the path cannot be opened it
// returns the error and keeps writing to the previous file, so a bad
// rotation loses no line.
func (l *logFile) Reopen() error {
	f, err := openLogPath(l.path)
	if err != nil {
		return fmt.Errorf("reopen LOG_FILE %s (still writing to the file opened before): %w", l.path, err)
	}
	l.mu.Lock()
	old := l.f
	if old == nil {
		// Closed while the new file was being opened: stay closed.
		l.mu.Unlock()
		f.Close()
		return nil
	}
	l.f = f
	l.mu.Unlock()
	return old.Close()
}

// Close closes the file; later writes fail and Reopen does nothing.
func (l *logFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// sharedLogFile returns the command's LOG_FILE, opened on first use and
// closed when the command returns.
func (e *Env) sharedLogFile(path string) (*logFile, error) {
	e.logMu.Lock()
	defer e.logMu.Unlock()
	if e.logFile != nil {
		return e.logFile, nil
	}
	f, err := openLogFile(path)
	if err != nil {
		return nil, err
	}
	e.logFile = f
	e.onClose(func() {
		f.Close()
		e.logMu.Lock()
		e.logFile = nil
		e.logMu.Unlock()
	})
	return f, nil
}

// ReopenLogs reopens the command's LOG_FILE, if it opened one, at its
// configured path (see logFile). Main calls it on SIGHUP.
func (e *Env) ReopenLogs() error {
	e.logMu.Lock()
	f := e.logFile
	e.logMu.Unlock()
	if f == nil {
		return nil
	}
	return f.Reopen()
}

// reopenLogsOnHangup reopens env's LOG_FILE on every SIGHUP until the
// returned function is called. A hangup therefore no longer ends the
// process (SIGINT and SIGTERM do), as with other daemons that logrotate
// signals. A reopen that fails is reported on stderr and logging goes on
// into the file open before. Calling stop more than once is harmless.
func reopenLogsOnHangup(env *Env) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			case <-hup:
				if err := env.ReopenLogs(); err != nil {
					fmt.Fprintln(env.Stderr, "tripin: "+err.Error())
				}
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			signal.Stop(hup)
			close(done)
			<-stopped
		})
	}
}
