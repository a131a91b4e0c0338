package dashboard_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
	"github.com/tripintravel/tripin/queue/driver"
)

// classPoint is n jobs of kind on queue, failed of them for good, each
// taking runtime, in the minute of at.
func classPoint(kind, queue string, at time.Time, n, failed int, runtime time.Duration) *driver.JobClassMetric {
	p := &driver.JobClassMetric{Kind: kind, Queue: queue, Start: at, Processed: n - failed, Failed: failed, WaitMS: int64(n) * 1000, MaxWaitMS: 3000}
	for range n {
		p.RuntimeUS += runtime.Microseconds()
		p.Runtime.Observe(runtime)
	}
	return p
}

func TestMetricsPage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		h := newHarness(t, d)
		c := h.session(h.admin)
		now := time.Now()
		require.NoError(t, h.adm.JobClassMetricsRecord(ctx, []*driver.JobClassMetric{
			classPoint("SendInvoiceEmail", "emails", now.Add(-2*time.Minute), 42, 2, 20*time.Millisecond),
			classPoint("ExpireBooking", "default", now.Add(-3*time.Minute), 10, 0, 2*time.Second),
			classPoint("SendETicketEmail", "emails", now.Add(-3*24*time.Hour), 5, 0, 300*time.Millisecond),
		}))
		// The old minute becomes an hour, as the hourly prune would do.
		rolled, err := h.adm.JobClassMetricsRollup(ctx, &driver.JobClassMetricsRollupParams{OlderThan: 24 * time.Hour})
		require.NoError(t, err)
		require.Equal(t, 1, rolled)

		get := func(path string) string {
			t.Helper()
			w := h.do("GET", path, nil, c)
			require.Equal(t, http.StatusOK, w.Code, path)
			return w.Body.String()
		}
		section := func(body, id string) string {
			t.Helper()
			i := strings.Index(body, `id="`+id+`"`)
			require.GreaterOrEqual(t, i, 0, "no #%s", id)
			j := strings.Index(body[i:], "</table>")
			require.Greater(t, j, 0)
			return body[i : i+j]
		}

		// The last hour: both recent classes, the slowest first.
		body := get("/admin/metrics")
		require.Contains(t, body, `href="/admin/metrics" class="on">Metrics</a>`, "the nav shows the page")
		require.Contains(t, body, `class="on">1 hour</a>`)
		require.Contains(t, body, `id="tile-jobs">52<`)
		require.Contains(t, body, `id="tile-failure-rate">3.8 %<`)
		require.Contains(t, body, `aria-label="Jobs per minute, last 1 hour, all jobs"`)
		require.Contains(t, body, `<rect class="bar-fail"`)
		require.Contains(t, body, `<rect class="bar-p95"`)
		require.NotContains(t, body, "SendETicketEmail", "three days ago is not in the last hour")
		slowest := section(body, "slowest")
		require.Less(t, strings.Index(slowest, "ExpireBooking"), strings.Index(slowest, "SendInvoiceEmail"))
		require.Regexp(t, `ExpireBooking</a></td><td class="n">2\.\d s</td><td class="n">2\.0 s</td><td class="n">10</td>`, slowest)
		classes := section(body, "classes")
		require.Regexp(t, `SendInvoiceEmail</a></td>\s*<td class="n">42</td><td class="n"><span class="bad">2</span></td><td class="n">4\.8 %</td>\s*<td class="n">20 ms</td>`, classes)
		queues := section(body, "queues")
		require.Less(t, strings.Index(queues, `data-queue="emails"`), strings.Index(queues, `data-queue="default"`), "busiest queue first")

		// A week reads the rolled-up hour too.
		body = get("/admin/metrics?window=7d")
		require.Contains(t, body, `class="on">7 days</a>`)
		require.Contains(t, body, `id="tile-jobs">57<`)
		require.Contains(t, section(body, "classes"), `data-job="SendETicketEmail"`)
		require.Contains(t, body, `aria-label="Jobs per hour, last 7 days, all jobs"`)

		// A job class or a queue filters the tiles and charts, not the
		// tables; the window tabs keep the filter.
		body = get("/admin/metrics?window=24h&job=SendInvoiceEmail")
		require.Contains(t, body, `id="tile-jobs">42<`)
		require.Contains(t, body, `aria-label="Jobs per 15 minutes, last 24 hours, SendInvoiceEmail"`)
		require.Contains(t, body, `href="/admin/metrics?window=7d&amp;job=SendInvoiceEmail"`)
		require.Contains(t, section(body, "classes"), `data-job="ExpireBooking"`)
		body = get("/admin/metrics?queue=default")
		require.Contains(t, body, `id="tile-jobs">10<`)
		require.Contains(t, body, `id="tile-failure-rate">0.0 %<`)

		// Unknown windows fall back to the hour; names are escaped.
		body = get("/admin/metrics?window=1y&job=%3Cscript%3Ex")
		require.Contains(t, body, `class="on">1 hour</a>`)
		require.Contains(t, body, `id="tile-jobs">0<`)
		require.Contains(t, body, "No jobs ran in this window")
		require.NotContains(t, body, "<script>x")

		// Customers get no metrics.
		w := h.do("GET", "/admin/metrics", nil, h.session(h.customer))
		require.NotEqual(t, http.StatusOK, w.Code)
	})
}
