package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestWALBenchSamples checks what bench wal makes of its samples: the
// per-second maxima of its table, the CSV it writes and reads back for
// --plot-with, and the plot.
func TestWALBenchSamples(t *testing.T) {
	samples := []walSample{
		{at: 0, size: 0},
		{at: 400 * time.Millisecond, size: 3 << 20},
		{at: 900 * time.Millisecond, size: 1 << 20},
		{at: 1100 * time.Millisecond, size: 17 << 20},
		{at: 2500 * time.Millisecond, size: 0},
	}
	require.Equal(t, []float64{3, 17, 0}, perSecondMax(samples))

	path := filepath.Join(t.TempDir(), "run.csv")
	require.NoError(t, writeWALCSV(path, walSeries{label: "after (go)", samples: samples}))
	back, err := readWALCSV(path)
	require.NoError(t, err)
	require.Equal(t, "after (go)", back.label)
	require.Equal(t, samples, back.samples)

	svg := string(walPlotSVG([]walSeries{back, {label: "before <old>", samples: []walSample{{at: time.Second, size: 2 << 30}}}}, 2*time.Second))
	require.True(t, strings.HasPrefix(svg, "<svg "), svg)
	require.Contains(t, svg, "after (go) (max 17.0 MiB)")
	require.Contains(t, svg, "before &lt;old&gt; (max 2048.0 MiB)", "labels are escaped")
	require.Equal(t, 2, strings.Count(svg, "<polyline "))
	require.Contains(t, svg, "64 MiB target")

	bad := filepath.Join(t.TempDir(), "bad.csv")
	require.NoError(t, os.WriteFile(bad, []byte("seconds,wal_bytes\n1.5,12\n2,-3\n"), 0o644))
	_, err = readWALCSV(bad)
	require.ErrorContains(t, err, "bad.csv:3: want seconds,bytes")
}
