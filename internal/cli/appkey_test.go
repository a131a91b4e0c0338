package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/config"
)

// TestKeyGenerate: `tripin key generate` prints a new key that APP_KEY
// accepts, different on each run.
func TestKeyGenerate(t *testing.T) {
	var keys []string
	for range 2 {
		var out bytes.Buffer
		env := &Env{Stdout: &out, Stderr: &out}
		require.NoError(t, Run(context.Background(), env, []string{"key", "generate"}))
		k := strings.TrimSpace(out.String())
		require.True(t, strings.HasPrefix(k, "base64:"), k)
		b, err := config.DecodeAppKey(k)
		require.NoError(t, err)
		require.Len(t, b, 32)
		_, err = config.FromMap(map[string]string{"APP_ENV": "production", "MIDTRANS_SERVER_KEY": "Mid-server-x", "APP_KEY": k})
		require.NoError(t, err)
		keys = append(keys, k)
	}
	require.NotEqual(t, keys[0], keys[1])
	env := &Env{Stdout: io.Discard, Stderr: io.Discard}
	require.Error(t, Run(context.Background(), env, []string{"key:generate", "extra"}))
}

// startServe runs `tripin serve` as a real process in dir with env and
// returns it with its stderr and stdout so far once it is running, or the
// process's error when it stopped at start.
func startServe(t *testing.T, dir string, env []string) (*exec.Cmd, string, error) {
	t.Helper()
	args, err := json.Marshal([]string{"serve", "--addr", "127.0.0.1:0", "--no-worker", "--no-scheduler"})
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), mainArgsEnv+"="+string(args), "DB_CONNECTION=sqlite", "DB_URL=",
		"DB_DATABASE="+filepath.Join(dir, "tripin.db"), "LOG_FILE="+filepath.Join(dir, "tripin.log"), "APP_KEY=")
	cmd.Env = append(cmd.Env, env...)
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var seen strings.Builder
	deadline := time.After(90 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				err := cmd.Wait()
				return nil, stderr.String() + seen.String(), err
			}
			seen.WriteString(l + "\n")
			if strings.Contains(l, "Tripin is running") {
				t.Cleanup(func() {
					_ = cmd.Process.Signal(syscall.SIGTERM)
					_ = cmd.Wait()
				})
				go func() {
					for range lines {
					}
				}()
				return cmd, stderr.String() + seen.String(), nil
			}
		case <-deadline:
			_ = cmd.Process.Kill()
			t.Fatalf("serve neither started nor stopped:\n%s%s", stderr.String(), seen.String())
		}
	}
}

// TestServeAppKey: `serve` in production without APP_KEY stops at start
// with one line naming the key and how to make one, creating nothing;
// in local mode it generates storage/app.key (mode 0600) on first start
// and reuses it on the next.
func TestServeAppKey(t *testing.T) {
	t.Parallel()
	t.Run("production without APP_KEY", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		_, out, err := startServe(t, dir, []string{"APP_ENV=production", "MIDTRANS_SERVER_KEY=Mid-server-x"})
		require.Error(t, err, "serve must not start:\n%s", out)
		line := strings.TrimSpace(out)
		require.NotContains(t, line, "\n", "one line")
		require.Contains(t, line, "APP_KEY")
		require.Contains(t, line, "tripin key generate")
		require.NoFileExists(t, filepath.Join(dir, "tripin.db"), "nothing was created")
		require.NoDirExists(t, filepath.Join(dir, "storage"))
	})
	t.Run("local generates and reuses storage/app.key", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		free := func() string {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			defer l.Close()
			return "http://" + l.Addr().String()
		}
		cmd, out, err := startServe(t, dir, []string{"APP_ENV=local", "APP_URL=" + free()})
		require.NoError(t, err, out)
		path := filepath.Join(dir, "storage", "app.key")
		fi, err := os.Stat(path)
		require.NoError(t, err, out)
		require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
		first, err := os.ReadFile(path)
		require.NoError(t, err)
		_, err = config.DecodeAppKey(strings.TrimSpace(string(first)))
		require.NoError(t, err)
		require.Contains(t, out, "Generated an application key into storage/app.key")
		require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
		_ = cmd.Wait()

		_, out, err = startServe(t, dir, []string{"APP_ENV=local", "APP_URL=" + free()})
		require.NoError(t, err, out)
		again, err := os.ReadFile(path)
		require.NoError(t, err)
		require.Equal(t, string(first), string(again), "the second start reuses the key")
		require.NotContains(t, out, "Generated an application key")
	})
}

// TestEnvConfigUsesLocalKey: a command in local mode signs with the key of
// storage/app.key under its working directory, the same in every process.
func TestEnvConfigUsesLocalKey(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("APP_ENV", "local")
	t.Setenv("APP_KEY", "")
	var errs bytes.Buffer
	a := &Env{Stdout: io.Discard, Stderr: &errs, EnvFile: ""}
	ca, err := a.Config()
	require.NoError(t, err)
	b := &Env{Stdout: io.Discard, Stderr: io.Discard, EnvFile: ""}
	cb, err := b.Config()
	require.NoError(t, err)
	require.False(t, ca.AppKeyEphemeral)
	require.Equal(t, ca.AppKey, cb.AppKey)
	require.Equal(t, ca.LinkKey(), cb.LinkKey())
	raw, err := os.ReadFile(filepath.Join(dir, config.LocalAppKeyFile))
	require.NoError(t, err)
	require.Equal(t, ca.AppKey, strings.TrimSpace(string(raw)))
	require.Contains(t, errs.String(), "Generated an application key")
}

// testAppKey is an APP_KEY for the tests that run in production or
// staging.
const testAppKey = "base64:dGhpcyBpcyBhIHRlc3Qga2V5IG9mIDMyIGJ5dGVzISE="
