package cli

import (
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTuneGC(t *testing.T) {
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })

	t.Setenv("GOGC", "")
	require.Equal(t, defaultGCPercent, tuneGC())
	require.Equal(t, defaultGCPercent, debug.SetGCPercent(100), "the runtime's setting")

	// An operator's GOGC wins: the runtime read it at start (here the
	// current setting stands in for it) and tuneGC leaves it alone.
	t.Setenv("GOGC", "150")
	debug.SetGCPercent(150)
	require.Equal(t, 150, tuneGC())
	require.Equal(t, 150, debug.SetGCPercent(100))
}
