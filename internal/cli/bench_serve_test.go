package cli

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestBenchServeUsage: bad flags of bench serve and serve's
// --worker-concurrency are usage errors (exit 2) that start nothing.
func TestBenchServeUsage(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "serve", "--backend", "oracle"},
		{"bench", "serve", "--backend", "sqlite,"},
		{"bench", "serve", "--mailer", "sendmail"},
		{"bench", "serve", "--queue", "kafka"},
		{"bench", "serve", "--rate", "-1"},
		{"bench", "serve", "--concurrency", "0"},
		{"bench", "serve", "--worker-concurrency", "-2"},
		{"bench", "serve", "extra"},
		{"serve", "--worker-concurrency", "0"},
	} {
		code, stdout, stderr := runCLI(t, args...)
		require.Equal(t, 2, code, "%v: %s", args, stderr)
		require.Empty(t, stdout, "%v", args)
	}
}
