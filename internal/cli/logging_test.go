package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/config"
)

// loggingEnv returns an Env whose standard output is stdout, configured
// with vals and a LOG_FILE of its own, and the path of that file.
func loggingEnv(t *testing.T, stdout *os.File, vals map[string]string) (*Env, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tripin.log")
	vals["LOG_FILE"] = path
	cfg, err := config.FromMap(vals)
	require.NoError(t, err)
	env := &Env{Stdout: stdout, Stderr: stdout, Cfg: cfg}
	t.Cleanup(env.closeAll)
	return env, path
}

// logTo logs one line at each level through a stdout logger of env and
// returns what standard output and LOG_FILE received.
func logTo(t *testing.T, env *Env, stdout *os.File, path string) (out, file string) {
	t.Helper()
	logger, err := env.Logger(true)
	require.NoError(t, err)
	logger.Debug("debug line", "booking", "TRP-1")
	logger.Info("info line", "booking", "TRP-1")
	logger.Warn("warn line", "booking", "TRP-1")
	logger.Error("error line", "booking", "TRP-1")
	env.closeAll()
	b, err := os.ReadFile(stdout.Name())
	require.NoError(t, err)
	f, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b), string(f)
}

func tempStdout(t *testing.T) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "stdout"))
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}

// requireJSONLines checks that every line of s is a JSON object and
// returns their messages.
func requireJSONLines(t *testing.T, s string) []string {
	t.Helper()
	var msgs []string
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), "not a JSON line: %q", line)
		require.Equal(t, "TRP-1", rec["booking"])
		msgs = append(msgs, rec["msg"].(string))
	}
	return msgs
}

// TestLogFormatOnStdout: LOG_FORMAT=json and text decide; auto, the
// default, writes JSON to what is not a terminal (a file here, as under
// systemd or in a container). LOG_FILE is JSON whatever the format.
func TestLogFormatOnStdout(t *testing.T) {
	for _, format := range []string{"", "auto", "json", "text"} {
		t.Run("format="+format, func(t *testing.T) {
			stdout := tempStdout(t)
			vals := map[string]string{}
			if format != "" {
				vals["LOG_FORMAT"] = format
			}
			env, path := loggingEnv(t, stdout, vals)
			out, file := logTo(t, env, stdout, path)
			require.Equal(t, []string{"info line", "warn line", "error line"}, requireJSONLines(t, file))
			if format == "text" {
				require.Contains(t, out, `level=INFO msg="info line" booking=TRP-1`)
				require.NotContains(t, out, "{")
				return
			}
			require.Equal(t, []string{"info line", "warn line", "error line"}, requireJSONLines(t, out))
		})
	}
}

// TestLogLevelPerProcess: two processes (two Envs) with different
// LOG_LEVEL log different levels, on standard output and in LOG_FILE.
func TestLogLevelPerProcess(t *testing.T) {
	for level, want := range map[string][]string{
		"debug":   {"debug line", "info line", "warn line", "error line"},
		"info":    {"info line", "warn line", "error line"},
		"warn":    {"warn line", "error line"},
		"warning": {"warn line", "error line"},
		"error":   {"error line"},
	} {
		t.Run(level, func(t *testing.T) {
			stdout := tempStdout(t)
			env, path := loggingEnv(t, stdout, map[string]string{"LOG_LEVEL": level, "LOG_FORMAT": "json"})
			out, file := logTo(t, env, stdout, path)
			require.Equal(t, want, requireJSONLines(t, out))
			require.Equal(t, want, requireJSONLines(t, file))
		})
	}
}

// TestStdoutJSONOnlyOffTerminal: auto picks text on a terminal and JSON on
// anything else; an explicit format wins on both.
func TestStdoutJSONOnlyOffTerminal(t *testing.T) {
	var buf bytes.Buffer
	require.True(t, stdoutJSON("auto", &buf), "a buffer is not a terminal")
	require.True(t, stdoutJSON("auto", tempStdout(t)), "a file is not a terminal")
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	defer w.Close()
	require.True(t, stdoutJSON("auto", w), "a pipe is not a terminal")
	require.False(t, stdoutJSON("text", w))

	tty := openTerminal(t)
	require.False(t, stdoutJSON("auto", tty), "a terminal gets text")
	require.False(t, stdoutJSON("", tty))
	require.True(t, stdoutJSON("json", tty))
	require.False(t, stdoutJSON("text", tty))
}

// TestConfigWarningsPrintedOnce: a misspelt key is named once on stderr
// however often the command asks for its configuration.
func TestConfigWarningsPrintedOnce(t *testing.T) {
	dir := t.TempDir()
	envFile := filepath.Join(dir, ".env")
	require.NoError(t, os.WriteFile(envFile, []byte("QUEUE_CONECTION=redis\nAPP_ENV=testing\nLOG_FILE="+filepath.Join(dir, "tripin.log")+"\n"), 0o600))
	var stderr bytes.Buffer
	env := &Env{Stdout: &bytes.Buffer{}, Stderr: &stderr, EnvFile: envFile}
	for range 3 {
		cfg, err := env.Config()
		require.NoError(t, err)
		require.Equal(t, "database", cfg.QueueConnection)
	}
	require.Equal(t, "tripin: warning: config: unknown setting QUEUE_CONECTION (in "+envFile+"); did you mean QUEUE_CONNECTION?\n", stderr.String())
}
