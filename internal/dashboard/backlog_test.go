package dashboard_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/dashboard"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

// seedJobs inserts n jobs of queue, available in availableIn seconds
// (negative: in the past), reserved or not.
func (h *harness) seedJobs(queue string, n int, availableIn int64, reserved bool) {
	h.t.Helper()
	ctx := context.Background()
	now, err := h.db.Now(ctx)
	require.NoError(h.t, err)
	sec := now.Unix()
	var reservedAt any
	if reserved {
		reservedAt = sec
	}
	for i := range n {
		uuid := fmt.Sprintf("00000000-0000-4000-8000-%012d", len(queue)*1000000+int(availableIn+1000)*100+i)
		_, err := h.db.ExecContext(ctx, h.db.Rebind(`INSERT INTO jobs (queue, payload, attempts, reserved_at, available_at, created_at, uuid, kind, max_attempts)
VALUES (?, ?, 0, ?, ?, ?, ?, 'Noop', 1)`), queue, `{"uuid":"`+uuid+`","displayName":"Noop","job":"Noop","data":{}}`, reservedAt, sec+availableIn, sec, uuid)
		require.NoError(h.t, err)
	}
}

// TestOverviewCountsStopAtLimit: a queue holding more jobs of a state than
// the count limit shows "limit+" and the page says where counting
// stopped; counts below the limit are exact and the note is absent.
func TestOverviewCountsStopAtLimit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		h := newHarness(t, d)
		cfg, err := config.FromMap(map[string]string{"APP_ENV": "testing"})
		require.NoError(t, err)
		dash := dashboard.New(dashboard.Params{
			DB: h.db, Admin: h.adm, Driver: h.adm, Accounts: h.accounts, Config: cfg,
			Queues: []string{"default"}, QueueCountLimit: 5,
		})
		c := h.session(h.admin)
		overview := func() string {
			t.Helper()
			w := h.do("GET", "/admin", nil, c)
			require.Equal(t, http.StatusOK, w.Code)
			return w.Body.String()
		}
		h.dash = dash
		h.seedJobs("emails", 5, -30, false)
		h.seedJobs("emails", 2, 3600, false)
		body := overview()
		require.NotContains(t, body, `id="count-limit"`, "no count reached the limit")
		cell := func(body, queue, state string) string {
			t.Helper()
			m := regexp.MustCompile(`(?s)<tr data-queue="` + queue + `">.*?<td class="n ` + state + `">([^<]*)</td>`).FindStringSubmatch(body)
			require.NotNil(t, m, "no %s cell for queue %s", state, queue)
			return html.UnescapeString(m[1])
		}
		require.Equal(t, "5", cell(body, "emails", "pending"))
		require.Equal(t, "2", cell(body, "emails", "delayed"))

		h.seedJobs("emails", 1, -30, false)
		h.seedJobs("bulk", 7, 0, true)
		body = overview()
		require.Equal(t, "5+", cell(body, "emails", "pending"), "6 pending over a limit of 5")
		require.Equal(t, "2", cell(body, "emails", "delayed"))
		require.Equal(t, "5+", cell(body, "bulk", "reserved"))
		require.Equal(t, "0", cell(body, "default", "pending"))
		require.Contains(t, body, `id="count-limit"`)
		require.Contains(t, body, "Counts stop at 5")
	})
}

// TestJobsKeysetPages: /admin/jobs pages by the last job shown, across
// queues, visiting every job once; a malformed position is refused.
func TestJobsKeysetPages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		h := newHarness(t, d)
		c := h.session(h.admin)
		h.seedJobs("emails", 40, -60, false)
		h.seedJobs("default", 35, -30, false)
		h.seedJobs("default", 3, 600, false)
		idRE := regexp.MustCompile(`<td>#(\d+)</td>`)
		nextRE := regexp.MustCompile(`href="(/admin/jobs\?[^"]*after=[^"]*)">Next`)
		seen := map[string]bool{}
		path, pages := "/admin/jobs?state=pending", 0
		for path != "" {
			w := h.do("GET", html.UnescapeString(path), nil, c)
			require.Equal(t, http.StatusOK, w.Code, path)
			body := w.Body.String()
			for _, m := range idRE.FindAllStringSubmatch(body, -1) {
				require.False(t, seen[m[1]], "job %s shown twice", m[1])
				seen[m[1]] = true
			}
			if pages > 0 {
				require.Contains(t, body, "First page")
			}
			pages++
			path = ""
			if m := nextRE.FindStringSubmatch(body); m != nil {
				path = m[1]
			}
		}
		require.Len(t, seen, 75, "every pending job, none of the delayed ones")
		require.Equal(t, 2, pages)

		w := h.do("GET", "/admin/jobs?state=pending&after=yesterday", nil, c)
		require.Equal(t, http.StatusBadRequest, w.Code)
		require.Contains(t, w.Body.String(), "after parameter")
	})
}
