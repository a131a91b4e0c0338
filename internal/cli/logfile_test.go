//go:build unix

package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// logLines reads a JSON-lines log file and returns its records; every line
// must be a whole JSON object.
func logLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &rec), "a whole JSON line in %s: %q", path, sc.Text())
		out = append(out, rec)
	}
	require.NoError(t, sc.Err())
	return out
}

// fileContains reports whether path exists and contains s.
func fileContains(path, s string) bool {
	b, err := os.ReadFile(path)
	return err == nil && strings.Contains(string(b), s)
}

// TestServeReopensLogFileOnSIGHUP rotates the log of a real `tripin serve`
// process as logrotate does: rename the file, send SIGHUP. Requests go on
// throughout; each one's access-log line (found by its X-Request-ID) must
// be in exactly one of the two files, lines sent before the rename in the
// renamed file, lines sent once the reopen is seen in a new file at the
// configured path, and the process must keep serving.
func TestServeReopensLogFileOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "logs", "tripin.log")
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	args, err := json.Marshal([]string{"serve", "--addr", addr, "--no-worker", "--no-scheduler"})
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), mainArgsEnv+"="+string(args),
		"APP_ENV=testing", "DB_CONNECTION=sqlite", "DB_DATABASE="+filepath.Join(dir, "tripin.db"),
		"DB_URL=", "QUEUE_CONNECTION=database", "MIDTRANS_SERVER_KEY=SB-Mid-server-test", "LOG_LEVEL=info",
		"LOG_FILE="+logPath)
	var out bookingOutBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			cmd.Process.Kill()
			<-exited
		}
	}()

	client := &http.Client{Timeout: 10 * time.Second}
	base := "http://" + addr
	require.Eventually(t, func() bool {
		select {
		case <-exited:
			stopped = true
			return true
		default:
		}
		resp, err := client.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, time.Minute, 50*time.Millisecond, "serve answers /healthz; its output:\n%s", &out)
	require.False(t, stopped, "serve exited at start; its output:\n%s", &out)

	var sent []string
	send := func(id string) {
		t.Helper()
		req, err := http.NewRequest("GET", base+"/healthz", nil)
		require.NoError(t, err)
		req.Header.Set("X-Request-ID", id)
		resp, err := client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		sent = append(sent, id)
	}
	for i := 0; i < 20; i++ {
		send(fmt.Sprintf("before-%d", i))
	}
	require.Eventually(t, func() bool { return fileContains(logPath, `"before-19"`) }, 10*time.Second, 10*time.Millisecond)

	// logrotate: rename, then signal. Lines logged in between still go
	// to the renamed file.
	require.NoError(t, os.Rename(logPath, logPath+".1"))
	for i := 0; i < 20; i++ {
		send(fmt.Sprintf("between-%d", i))
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	reopened := false
	for i := 0; i < 5000 && !reopened; i++ {
		send(fmt.Sprintf("after-%d", i))
		reopened = fileContains(logPath, `"after-`)
	}
	require.True(t, reopened, "after SIGHUP, new lines reach a new file at LOG_FILE")
	for i := 0; i < 20; i++ {
		send(fmt.Sprintf("final-%d", i))
	}
	require.Eventually(t, func() bool { return fileContains(logPath, `"final-19"`) }, 10*time.Second, 10*time.Millisecond)

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		stopped = true
		require.NoError(t, err, "serve exits cleanly after the rotation; its output:\n%s", &out)
	case <-time.After(time.Minute):
		t.Fatal("serve did not stop on SIGTERM")
	}

	where := map[string][]string{}
	for _, f := range []string{logPath + ".1", logPath} {
		for _, rec := range logLines(t, f) {
			if id, ok := rec["request_id"].(string); ok && rec["msg"] == "http request" {
				where[id] = append(where[id], filepath.Base(f))
			}
		}
	}
	for _, id := range sent {
		require.Len(t, where[id], 1, "request %s is logged exactly once (found in %v)", id, where[id])
		switch {
		case strings.HasPrefix(id, "before-"), strings.HasPrefix(id, "between-"):
			require.Equal(t, "tripin.log.1", where[id][0], "request %s was logged before the reopen", id)
		case strings.HasPrefix(id, "final-"):
			require.Equal(t, "tripin.log", where[id][0], "request %s was logged after the reopen", id)
		}
	}
}

// TestLogFileReopenUnderConcurrentWrites sends a real SIGHUP to the test
// process while several goroutines log as fast as they can: every record
// must land whole in exactly one of the two files, in order per writer.
func TestLogFileReopenUnderConcurrentWrites(t *testing.T) {
	env, _ := bookingTestEnv(t, nil)
	logPath := env.Cfg.LogFile
	logger, err := env.Logger(false)
	require.NoError(t, err)
	stop := reopenLogsOnHangup(env)
	defer stop()

	const writers, after = 4, 500
	var wg sync.WaitGroup
	rotated := make(chan struct{})
	counts := make([]int, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Log until the rotation is done and the new file exists,
			// then some more; bounded, in case the reopen never comes.
			n, extra := 0, -1
			for n < 200000 && extra != 0 {
				logger.Info("line", "writer", w, "n", n)
				n++
				if extra > 0 {
					extra--
					continue
				}
				select {
				case <-rotated:
					if _, err := os.Stat(logPath); err == nil {
						extra = after
					}
				default:
				}
			}
			counts[w] = n
		}()
	}
	require.Eventually(t, func() bool { return fileContains(logPath, `"n":100}`) }, 30*time.Second, 5*time.Millisecond)
	require.NoError(t, os.Rename(logPath, logPath+".1"))
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGHUP))
	close(rotated)
	wg.Wait()
	stop()
	env.closeAll()

	seen := make([][]int, writers)
	for _, f := range []string{logPath + ".1", logPath} {
		for _, rec := range logLines(t, f) {
			w, n := int(rec["writer"].(float64)), int(rec["n"].(float64))
			seen[w] = append(seen[w], n)
		}
	}
	newLines := logLines(t, logPath)
	require.NotEmpty(t, newLines, "records after the reopen reach the new file")
	for w := 0; w < writers; w++ {
		require.Len(t, seen[w], counts[w], "writer %d: every record is logged once", w)
		for i, n := range seen[w] {
			require.Equal(t, i, n, "writer %d: records in order, none missing, none twice", w)
		}
	}
}

// TestLogFileReopenFailureKeepsWriting makes the path unopenable (a
// directory stands where the new file would be): Reopen reports it and the
// lines keep going to the file open before; a later Reopen succeeds.
func TestLogFileReopenFailureKeepsWriting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tripin.log")
	f, err := openLogFile(path)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.Write([]byte("one\n"))
	require.NoError(t, err)
	require.NoError(t, os.Rename(path, path+".1"))
	require.NoError(t, os.Mkdir(path, 0o755))

	err = f.Reopen()
	require.ErrorContains(t, err, "still writing to the file opened before")
	_, err = f.Write([]byte("two\n"))
	require.NoError(t, err)
	b, err := os.ReadFile(path + ".1")
	require.NoError(t, err)
	require.Equal(t, "one\ntwo\n", string(b), "the failed reopen kept the old file")

	require.NoError(t, os.Remove(path))
	require.NoError(t, f.Reopen())
	_, err = f.Write([]byte("three\n"))
	require.NoError(t, err)
	b, err = os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "three\n", string(b))

	require.NoError(t, f.Close())
	_, err = f.Write([]byte("four\n"))
	require.ErrorIs(t, err, os.ErrClosed)
	require.NoError(t, f.Reopen(), "reopening a closed log file does nothing")
	_, err = f.Write([]byte("five\n"))
	require.ErrorIs(t, err, os.ErrClosed)
}
