package bench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/store"
)

// TestServeBenchSQLite runs bench serve end to end at a low rate: a real
// serve child on a fresh SQLite file, vegeta's requests, the SMTP sink.
// Every booking created must reach the sink as an invoice, and the CPU,
// disk and lag figures must come from the run.
func TestServeBenchSQLite(t *testing.T) {
	if testing.Short() {
		t.Skip("builds tripin and runs serve")
	}
	bin := filepath.Join(t.TempDir(), "tripin")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/tripintravel/tripin/cmd/tripin").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	o := ServeOptions{Server: bin, Backends: []store.Dialect{store.SQLite}, Mailer: "smtp", Queue: "database", Rate: 100,
		Concurrency: 4, Duration: 3 * time.Second, Drain: time.Minute, Sample: 200 * time.Millisecond,
		Tours: 4, Users: 8}
	t.Run("database", func(t *testing.T) { checkServeBench(t, o) })
	t.Run("redis", func(t *testing.T) {
		url := os.Getenv("TRIPIN_TEST_REDIS_URL")
		if url == "" {
			t.Skip("TRIPIN_TEST_REDIS_URL is not set")
		}
		o.Queue, o.RedisURL = "redis", url
		checkServeBench(t, o)
	})
}

func checkServeBench(t *testing.T, o ServeOptions) {
	res, err := benchServe(context.Background(), store.SQLite, o, os.Stderr)
	require.NoError(t, err)
	require.Zero(t, res.Errors, res.FirstFailure)
	require.Greater(t, res.Created, 200, "3 s at 100/s")
	require.Equal(t, res.Created, res.EmailsDelivered, "one invoice per booking reached the SMTP sink")
	require.GreaterOrEqual(t, res.EmailDrainS, 0.0, "the email queue emptied")
	require.NotEmpty(t, res.Samples)
	require.Positive(t, res.CPUPerBookingUs)
	require.Positive(t, res.DiskDBBytesPerBooking)
	require.Positive(t, res.DiskLogBytesPerBooking, "serve logs every request")
	require.Greater(t, res.LatencyP99Ms, 0.0)
}

// TestChildCPU reads a process's CPU time from /proc: it grows while the
// process works.
func TestChildCPU(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	before := childCPU(os.Getpid())
	deadline := time.Now().Add(300 * time.Millisecond)
	for x := 0; time.Now().Before(deadline); x++ {
		_ = x * x
	}
	require.Greater(t, childCPU(os.Getpid()), before)
	require.Zero(t, childCPU(-1), "no such process")
}

// TestServeLagSVG draws two backends' samples: one polyline each, the
// goal line, and the labels with their peaks.
func TestServeLagSVG(t *testing.T) {
	svg := string(serveLagSVG([]*ServeResult{
		{Backend: "sqlite", Rate: 500, DurationS: 60, Samples: []ServeLagSample{{AtS: 0}, {AtS: 30, LagS: 1.5}, {AtS: 60, Pending: 3, LagS: 0.5}}},
		{Backend: "mysql", Rate: 500, DurationS: 60, Samples: []ServeLagSample{{AtS: 0}, {AtS: 60, LagS: 38}, {AtS: 95, LagS: 0}}},
	}))
	require.Equal(t, 2, strings.Count(svg, "<polyline"))
	require.Contains(t, svg, "10 s goal")
	require.Contains(t, svg, "sqlite (max 2 s)")
	require.Contains(t, svg, "mysql (max 38 s)")
	require.Contains(t, svg, "at 500/s")
	require.Equal(t, []float64{1, 2, 5, 10, 50}, []float64{niceStep(9), niceStep(15), niceStep(42), niceStep(95), niceStep(400)})
}
