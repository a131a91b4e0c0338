package faultbench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// worker is a running `tripin queue work` process.
type worker struct {
	name    string
	cmd     *exec.Cmd
	errPath string
	done    chan struct{}
	err     error
}

func (in *instance) startWorker(name string, lease int, args ...string) (*worker, error) {
	w := &worker{name: name, errPath: filepath.Join(in.logDir, name+".err"), done: make(chan struct{})}
	out, err := os.Create(w.errPath)
	if err != nil {
		return nil, err
	}
	w.cmd = exec.Command(in.o.Bin, append([]string{"queue", "work"}, args...)...)
	w.cmd.Dir = in.dir
	w.cmd.Env = append(in.env(lease), "LOG_FILE="+filepath.Join(in.logDir, name+".log"))
	w.cmd.Stdout, w.cmd.Stderr = out, out
	w.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := w.cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("bench faults: start a worker: %w", err)
	}
	go func() {
		w.err = w.cmd.Wait()
		out.Close()
		close(w.done)
	}()
	return w, nil
}

func (w *worker) pid() int { return w.cmd.Process.Pid }

func (w *worker) exited() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

func (w *worker) output() string {
	b, _ := os.ReadFile(w.errPath)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// stop sends SIGTERM (SIGCONT first, in case it is stopped) and waits up
// to timeout, then kills it.
func (w *worker) stop(timeout time.Duration) error {
	if w.exited() {
		return nil
	}
	_ = w.cmd.Process.Signal(syscall.SIGCONT)
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-w.done:
		return w.err
	case <-time.After(timeout):
		_ = w.cmd.Process.Kill()
		<-w.done
		return fmt.Errorf("%s did not stop within %s of SIGTERM", w.name, timeout)
	}
}

func (w *worker) kill() {
	if !w.exited() {
		_ = w.cmd.Process.Signal(syscall.SIGCONT)
		_ = w.cmd.Process.Kill()
		<-w.done
	}
}

// server is a long-running child process started by the bench (a database
// or Redis server, or `tripin serve`).
type server struct {
	cmd     *exec.Cmd
	outPath string
	done    chan struct{}
}

func startServer(outPath string, env []string, dir string, cred *syscall.Credential, name string, args ...string) (*server, error) {
	out, err := os.OpenFile(outPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Credential: cred}
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("bench faults: start %s: %w", name, err)
	}
	s := &server{cmd: cmd, outPath: outPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		out.Close()
		close(s.done)
	}()
	return s, nil
}

func (s *server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// stop sends sig and waits up to timeout, then kills.
func (s *server) stop(sig syscall.Signal, timeout time.Duration) {
	if s.exited() {
		return
	}
	_ = s.cmd.Process.Signal(sig)
	select {
	case <-s.done:
	case <-time.After(timeout):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

func (s *server) tail() string {
	b, _ := os.ReadFile(s.outPath)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// fatal marks an error of a waitUntil condition that ends the wait at once.
type fatal struct{ error }

// waitUntil polls cond every 50ms until it holds, ctx ends or timeout
// passes.
func waitUntil(ctx context.Context, timeout time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		// A condition that failed to read holds nothing, whatever its
		// zero values say (a count of 0 from a killed connection).
		ok, err := cond()
		if ok && err == nil {
			return nil
		}
		var f fatal
		if errors.As(err, &f) {
			return fmt.Errorf("waiting for %s: %w", what, f.error)
		}
		if err != nil {
			last = err
		}
		if time.Now().After(deadline) {
			if last != nil {
				return fmt.Errorf("waiting for %s: timed out after %s (last error: %v)", what, timeout, last)
			}
			return fmt.Errorf("waiting for %s: timed out after %s", what, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
