package cli

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/store"
)

// getMetrics returns the /metrics page at url, or "" when it cannot be
// read (the condition of an Eventually, off the test's goroutine).
func getMetrics(url string) string {
	res, err := http.Get(url)
	if err != nil {
		return ""
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return ""
	}
	return string(body)
}

func TestMetricsQueueWorkServesMetrics(t *testing.T) {
	newEnv, _ := queueTestEnv(t, store.SQLite, nil)
	env, out := newEnv()
	require.NoError(t, Run(context.Background(), env, []string{"queue", "push", "noop", "--count", "2"}), out.String())
	env, out = newEnv()
	require.NoError(t, Run(context.Background(), env, []string{"queue", "push", "fail", "--tries", "1"}), out.String())

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env, out = newEnv()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, env, []string{"queue", "work", "--metrics-addr", "127.0.0.1:0", "--sleep", "0.1"})
	}()
	line := regexp.MustCompile(`Serving metrics on (http://\S+/metrics)\.`)
	var url string
	require.Eventually(t, func() bool {
		m := line.FindStringSubmatch(out.String())
		if m != nil {
			url = m[1]
		}
		return m != nil
	}, 30*time.Second, 10*time.Millisecond, out.String())

	// The worker's own counters, fed by the observer openQueue adds, and
	// the queue depth read from the database.
	var page string
	require.Eventually(t, func() bool {
		page = getMetrics(url)
		return strings.Contains(page, `tripin_jobs_processed_total{job="noop",kind="noop",queue="default"} 2`) &&
			strings.Contains(page, `tripin_jobs_failed_total{job="fail",kind="fail",queue="default"} 1`)
	}, 30*time.Second, 50*time.Millisecond, "last page:\n%s\noutput:\n%s", page, out.String())
	require.Eventually(t, func() bool {
		page = getMetrics(url)
		return strings.Contains(page, `tripin_queue_jobs{queue="default",state="failed"} 1`) &&
			strings.Contains(page, `tripin_queue_jobs{queue="default",state="pending"} 0`)
	}, 10*time.Second, 100*time.Millisecond, page)
	require.Contains(t, page, `tripin_job_duration_seconds_count{job="noop",queue="default"} 2`)
	require.Contains(t, page, `tripin_job_duration_seconds_count{job="fail",queue="default"} 1`)
	require.Contains(t, page, "go_goroutines")

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("queue work did not stop")
	}
	// The metrics server stops with the worker.
	_, err := http.Get(url)
	require.Error(t, err)
}

func TestServeMetrics(t *testing.T) {
	env, out := bookingTestEnv(t, map[string]string{"APP_ENV": "local"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, env, []string{"serve", "--addr", "127.0.0.1:0", "--no-scheduler"})
	}()
	apiLine := regexp.MustCompile(`API:\s+(http://\S+)/api`)
	var base string
	require.Eventually(t, func() bool {
		m := apiLine.FindStringSubmatch(out.String())
		if m != nil {
			base = m[1]
		}
		return m != nil
	}, 180*time.Second, 50*time.Millisecond, out.String())

	res, err := http.Get(base + "/api/tours")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	// A job pushed by another process is worked by the worker serve
	// embeds, and counted by serve's metrics.
	pusher := &Env{Stdout: io.Discard, Stderr: io.Discard, Cfg: env.Cfg}
	t.Cleanup(pusher.closeAll)
	require.NoError(t, Run(context.Background(), pusher, []string{"queue", "push", "noop"}))

	var page string
	require.Eventually(t, func() bool {
		page = getMetrics(base + "/metrics")
		return strings.Contains(page, `tripin_jobs_processed_total{job="noop",kind="noop",queue="default"} 1`)
	}, 30*time.Second, 50*time.Millisecond, "last page:\n%s", page)
	require.Contains(t, page, `tripin_http_request_duration_seconds_count{method="GET",route="GET /api/tours",status="200"} 1`)
	require.Regexp(t, `(?m)^tripin_bookings_created_total \d+$`, page)
	require.Contains(t, page, `tripin_bookings{status="paid"}`)
	// The embedded worker's second queue is reported while empty.
	require.Contains(t, page, `tripin_queue_jobs{queue="emails",state="pending"} 0`)
	require.Contains(t, page, "process_cpu_seconds_total")

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after cancel")
	}
}
