package dashboard_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/dashboard"
	"github.com/tripintravel/tripin/internal/schedule"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/driver/dbdriver"
)

// harness is a dashboard on a fresh database with one administrator and
// one customer.
type harness struct {
	t        *testing.T
	db       *store.DB
	adm      driver.Admin
	accounts *booking.Accounts
	dash     *dashboard.Dashboard
	admin    *booking.User
	customer *booking.User
}

const testPassword = "correct horse battery"

func newHarness(t *testing.T, d store.Dialect) *harness {
	t.Helper()
	return newHarnessWith(t, d, map[string]string{})
}

// newHarnessWith is newHarness with configuration values of its own.
func newHarnessWith(t *testing.T, d store.Dialect, vals map[string]string) *harness {
	t.Helper()
	db := storetest.Open(t, d)
	vals["APP_ENV"] = "testing"
	cfg, err := config.FromMap(vals)
	require.NoError(t, err)
	accounts := booking.NewAccounts(booking.AccountsParams{Store: db, BcryptCost: bcrypt.MinCost})
	ctx := context.Background()
	admin, err := accounts.CreateUser(ctx, booking.NewUser{Name: "Ops", Email: "ops@example.com", Password: testPassword, IsAdmin: true})
	require.NoError(t, err)
	customer, err := accounts.CreateUser(ctx, booking.NewUser{Name: "Ayu", Email: "ayu@example.com", Password: testPassword})
	require.NoError(t, err)
	sched, err := schedule.New(cfg.AppTimezone,
		schedule.Func("nightly-report", func(context.Context) error { return nil }).DailyAt("02:00").OnOneServer())
	require.NoError(t, err)
	adm := dbdriver.NewAdmin(db.DB)
	dash := dashboard.New(dashboard.Params{
		DB: db, Admin: adm, Driver: adm, Accounts: accounts, Schedule: sched, Runs: schedule.NewRunLog(db),
		Config: cfg, Queues: []string{"default", "emails"}, DefaultMaxAttempts: 3,
	})
	return &harness{t: t, db: db, adm: adm, accounts: accounts, dash: dash, admin: admin, customer: customer}
}

// session returns a session cookie for u, as a login would set it.
func (h *harness) session(u *booking.User) *http.Cookie {
	h.t.Helper()
	tok, err := h.accounts.IssueToken(context.Background(), u.ID, "dashboard")
	require.NoError(h.t, err)
	return &http.Cookie{Name: "tripin_admin", Value: tok}
}

func (h *harness) do(method, path string, form url.Values, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	h.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, path, body)
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	h.dash.ServeHTTP(w, r)
	return w
}

var csrfRE = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// csrf reads the CSRF token from a page the session can see.
func (h *harness) csrf(c *http.Cookie) string {
	h.t.Helper()
	w := h.do("GET", "/admin/failed", nil, c)
	require.Equal(h.t, http.StatusOK, w.Code)
	m := csrfRE.FindStringSubmatch(w.Body.String())
	require.NotNil(h.t, m, "no CSRF field on the page")
	return m[1]
}

// addFailed stores a failed job whose payload holds secrets.
func (h *harness) addFailed(uuid, queue string) {
	h.t.Helper()
	payload := `{"uuid":"` + uuid + `","displayName":"SendInvoiceEmail","job":"SendInvoiceEmail","maxTries":3,"timeout":null,"backoff":null,"retryUntil":null,` +
		`"data":{"booking_id":42,"password":"hunter2-secret","api_token":"trp_leaked","nested":{"server_key":"SB-Mid-server-xyz","Card_Number":"4811111111111114","note":"visible note"}}}`
	_, err := h.db.ExecContext(context.Background(), h.db.Rebind(
		`INSERT INTO failed_jobs (uuid, connection, queue, payload, exception) VALUES (?, 'database', ?, ?, ?)`),
		uuid, queue, payload, "smtp: 550 mailbox unavailable\nmail: send invoice: smtp: 550 mailbox unavailable")
	require.NoError(h.t, err)
}

func (h *harness) failedCount() int {
	h.t.Helper()
	n, err := h.adm.FailedCount(context.Background(), "")
	require.NoError(h.t, err)
	return n
}

func (h *harness) failedID(uuid string) string {
	h.t.Helper()
	f, err := h.adm.FailedGet(context.Background(), uuid)
	require.NoError(h.t, err)
	return itoa(f.ID)
}

func TestAuthentication(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		h := newHarness(t, d)

		// Without a session every page sends the browser to the login
		// form, remembering where it was going.
		w := h.do("GET", "/admin", nil)
		require.Equal(t, http.StatusSeeOther, w.Code)
		require.Equal(t, "/admin/login", w.Header().Get("Location"))
		w = h.do("GET", "/admin/failed?page=2", nil)
		require.Equal(t, http.StatusSeeOther, w.Code)
		require.Equal(t, "/admin/login?next="+url.QueryEscape("/admin/failed?page=2"), w.Header().Get("Location"))
		w = h.do("GET", "/admin/failed", nil, &http.Cookie{Name: "tripin_admin", Value: booking.NewToken()})
		require.Equal(t, http.StatusSeeOther, w.Code, "an unknown token is no session")

		// A customer's valid token does not open the dashboard, but the
		// customer may log out to make room for an administrator.
		cust := h.session(h.customer)
		w = h.do("GET", "/admin", nil, cust)
		require.Equal(t, http.StatusForbidden, w.Code)
		require.Contains(t, w.Body.String(), "not an administrator")
		m := csrfRE.FindStringSubmatch(w.Body.String())
		require.NotNil(t, m, "the refusal page has the logout button")
		w = h.do("POST", "/admin/logout", url.Values{"_csrf": {"wrong"}}, cust)
		require.Equal(t, http.StatusForbidden, w.Code)
		require.Equal(t, 1, h.tokenCount(h.customer))
		w = h.do("POST", "/admin/logout", url.Values{"_csrf": {m[1]}}, cust)
		require.Equal(t, http.StatusSeeOther, w.Code)
		require.Zero(t, h.tokenCount(h.customer))

		w = h.do("GET", "/admin", nil, h.session(h.admin))
		require.Equal(t, http.StatusOK, w.Code)
		require.Contains(t, w.Body.String(), "Overview")
		require.Contains(t, w.Header().Get("Content-Security-Policy"), "default-src 'none'")
		require.Equal(t, "DENY", w.Header().Get("X-Frame-Options"))
	})
}

// login goes through the login form and returns its answer.
func (h *harness) login(email, password string) *httptest.ResponseRecorder {
	h.t.Helper()
	w := h.do("GET", "/admin/login?next=/admin/failed", nil)
	require.Equal(h.t, http.StatusOK, w.Code)
	var loginCookie *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == "tripin_admin_login" {
			loginCookie = c
		}
	}
	require.NotNil(h.t, loginCookie)
	require.True(h.t, loginCookie.HttpOnly)
	require.Equal(h.t, http.SameSiteStrictMode, loginCookie.SameSite)
	m := csrfRE.FindStringSubmatch(w.Body.String())
	require.NotNil(h.t, m)
	require.Equal(h.t, loginCookie.Value, m[1])
	form := url.Values{"_csrf": {m[1]}, "email": {email}, "password": {password}, "next": {"/admin/failed"}}
	return h.do("POST", "/admin/login", form, loginCookie)
}

func sessionCookie(w *httptest.ResponseRecorder) *http.Cookie {
	for _, c := range w.Result().Cookies() {
		if c.Name == "tripin_admin" && c.MaxAge >= 0 {
			return c
		}
	}
	return nil
}

func (h *harness) tokenCount(u *booking.User) int {
	h.t.Helper()
	var n int
	require.NoError(h.t, h.db.QueryRowContext(context.Background(), h.db.Rebind(
		`SELECT COUNT(*) FROM personal_access_tokens WHERE tokenable_id = ?`), u.ID).Scan(&n))
	return n
}

func TestLoginForm(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		h := newHarness(t, d)

		w := h.login("ops@example.com", "wrong password")
		require.Equal(t, http.StatusUnauthorized, w.Code)
		require.Contains(t, w.Body.String(), "do not match")
		require.Nil(t, sessionCookie(w))

		// A customer with the right password is refused, and the token
		// Login issued is revoked at once.
		w = h.login("ayu@example.com", testPassword)
		require.Equal(t, http.StatusForbidden, w.Code)
		require.Contains(t, w.Body.String(), "not an administrator")
		require.Nil(t, sessionCookie(w))
		require.Zero(t, h.tokenCount(h.customer))

		w = h.login("OPS@example.com ", testPassword)
		require.Equal(t, http.StatusSeeOther, w.Code)
		require.Equal(t, "/admin/failed", w.Header().Get("Location"))
		c := sessionCookie(w)
		require.NotNil(t, c)
		require.True(t, c.HttpOnly)
		require.False(t, c.Secure, "plain http without an https APP_URL")
		require.Equal(t, http.SameSiteStrictMode, c.SameSite)
		require.Equal(t, "/admin", c.Path)
		require.Equal(t, 1, h.tokenCount(h.admin), "only the dashboard token remains")
		var expiring int
		require.NoError(t, h.db.QueryRowContext(context.Background(), h.db.Rebind(
			`SELECT COUNT(*) FROM personal_access_tokens WHERE tokenable_id = ? AND name = 'dashboard' AND expires_at > ? AND expires_at < ?`),
			h.admin.ID, time.Now().Add(11*time.Hour).UTC(), time.Now().Add(13*time.Hour).UTC()).Scan(&expiring))
		require.Equal(t, 1, expiring, "the session ends on the server after 12 hours")

		w = h.do("GET", "/admin/failed", nil, c)
		require.Equal(t, http.StatusOK, w.Code)

		// Logging out revokes the token: the old cookie opens nothing.
		w = h.do("POST", "/admin/logout", url.Values{"_csrf": {h.csrf(c)}}, c)
		require.Equal(t, http.StatusSeeOther, w.Code)
		require.Zero(t, h.tokenCount(h.admin))
		w = h.do("GET", "/admin/failed", nil, c)
		require.Equal(t, http.StatusSeeOther, w.Code)

		// The login form itself needs its double-submit token.
		w = h.do("POST", "/admin/login", url.Values{"email": {"ops@example.com"}, "password": {testPassword}})
		require.Equal(t, http.StatusForbidden, w.Code)
		require.Nil(t, sessionCookie(w))
		w = h.do("POST", "/admin/login", url.Values{"_csrf": {"forged"}, "email": {"ops@example.com"}, "password": {testPassword}},
			&http.Cookie{Name: "tripin_admin_login", Value: "another"})
		require.Equal(t, http.StatusForbidden, w.Code)
		require.Nil(t, sessionCookie(w))
	})
}

func TestLoginRedirectStaysOnTheDashboard(t *testing.T) {
	h := newHarness(t, store.SQLite)
	for _, next := range []string{"https://evil.example/", "//evil.example/admin", "/administrator", "/api/me", `/admin\..\x`} {
		w := h.do("GET", "/admin/login", nil)
		var lc *http.Cookie
		for _, c := range w.Result().Cookies() {
			if c.Name == "tripin_admin_login" {
				lc = c
			}
		}
		form := url.Values{"_csrf": {lc.Value}, "email": {"ops@example.com"}, "password": {testPassword}, "next": {next}}
		w = h.do("POST", "/admin/login", form, lc)
		require.Equal(t, http.StatusSeeOther, w.Code, next)
		require.Equal(t, "/admin", w.Header().Get("Location"), next)
	}
}

func TestActionsNeedCSRF(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		h := newHarness(t, d)
		h.addFailed("0b8e5a1c-0000-4000-8000-000000000001", "emails")
		c := h.session(h.admin)
		other := h.session(h.admin) // a second session of the same admin
		id := h.failedID("0b8e5a1c-0000-4000-8000-000000000001")

		for name, tc := range map[string]struct {
			form   url.Values
			origin string
		}{
			"missing token":           {form: url.Values{}},
			"wrong token":             {form: url.Values{"_csrf": {strings.Repeat("ab", 32)}}},
			"another session's token": {form: url.Values{"_csrf": {h.csrf(other)}}},
			"cross-site origin":       {form: url.Values{"_csrf": {h.csrf(c)}}, origin: "https://evil.example"},
		} {
			for _, path := range []string{"/admin/failed/" + id + "/retry", "/admin/failed/" + id + "/forget", "/admin/failed/retry-all", "/admin/queues/emails/pause"} {
				r := httptest.NewRequest("POST", path, strings.NewReader(tc.form.Encode()))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				if tc.origin != "" {
					r.Header.Set("Origin", tc.origin)
				}
				r.AddCookie(c)
				w := httptest.NewRecorder()
				h.dash.ServeHTTP(w, r)
				require.Equal(t, http.StatusForbidden, w.Code, "%s: %s", name, path)
				require.Contains(t, w.Body.String(), "Nothing was changed")
			}
		}
		require.Equal(t, 1, h.failedCount(), "nothing retried or forgotten")
		paused, err := h.adm.QueuePausedList(context.Background())
		require.NoError(t, err)
		require.Empty(t, paused)

		// Without a session a POST changes nothing either.
		w := h.do("POST", "/admin/failed/"+id+"/forget", url.Values{"_csrf": {h.csrf(c)}})
		require.Equal(t, http.StatusSeeOther, w.Code)
		require.Equal(t, 1, h.failedCount())
		// A customer with a CSRF token of their own is refused too.
		cust := h.session(h.customer)
		w = h.do("POST", "/admin/failed/"+id+"/forget", url.Values{"_csrf": {"x"}}, cust)
		require.Equal(t, http.StatusForbidden, w.Code)
		require.Equal(t, 1, h.failedCount())
	})
}

func TestFailedJobsRetryForget(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		h := newHarness(t, d)
		h.addFailed("0b8e5a1c-0000-4000-8000-00000000000a", "emails")
		h.addFailed("0b8e5a1c-0000-4000-8000-00000000000b", "emails")
		h.addFailed("0b8e5a1c-0000-4000-8000-00000000000c", "default")
		c := h.session(h.admin)
		tok := h.csrf(c)

		w := h.do("GET", "/admin/failed", nil, c)
		require.Equal(t, http.StatusOK, w.Code)
		body := w.Body.String()
		require.Contains(t, body, "SendInvoiceEmail")
		require.Contains(t, body, "550 mailbox unavailable")
		require.Equal(t, 3, strings.Count(body, ">Retry</button>"))

		// The detail page shows the payload with every secret masked.
		a, err := h.adm.FailedGet(ctx, "0b8e5a1c-0000-4000-8000-00000000000a")
		require.NoError(t, err)
		w = h.do("GET", "/admin/failed/"+itoa(a.ID), nil, c)
		require.Equal(t, http.StatusOK, w.Code)
		body = w.Body.String()
		for _, secret := range []string{"hunter2-secret", "trp_leaked", "SB-Mid-server-xyz", "4811111111111114"} {
			require.NotContains(t, body, secret)
		}
		require.Contains(t, body, "********")
		require.Contains(t, body, "visible note")
		require.Contains(t, body, `&#34;booking_id&#34;: 42`)
		require.Contains(t, body, "mail: send invoice")

		w = h.do("GET", "/admin/failed/999999", nil, c)
		require.Equal(t, http.StatusNotFound, w.Code)

		// Retry puts the job back on its queue.
		w = h.do("POST", "/admin/failed/"+itoa(a.ID)+"/retry", url.Values{"_csrf": {tok}}, c)
		require.Equal(t, http.StatusSeeOther, w.Code)
		require.Equal(t, "/admin/failed?done=retried", w.Header().Get("Location"))
		require.Equal(t, 2, h.failedCount())
		stats := queueStats(t, h.adm)
		require.Equal(t, 1, stats["emails"].Pending)
		var maxAttempts int
		require.NoError(t, h.db.QueryRowContext(ctx, h.db.Rebind(`SELECT max_attempts FROM jobs WHERE uuid = ?`), a.UUID).Scan(&maxAttempts))
		require.Equal(t, 3, maxAttempts, "the payload's maxTries")

		// Retrying it again finds nothing and says so.
		w = h.do("POST", "/admin/failed/"+itoa(a.ID)+"/retry", url.Values{"_csrf": {tok}}, c)
		require.Equal(t, "/admin/failed?done=missing", w.Header().Get("Location"))

		// Forget deletes one.
		b, err := h.adm.FailedGet(ctx, "0b8e5a1c-0000-4000-8000-00000000000b")
		require.NoError(t, err)
		w = h.do("POST", "/admin/failed/"+itoa(b.ID)+"/forget", url.Values{"_csrf": {tok}}, c)
		require.Equal(t, http.StatusSeeOther, w.Code)
		require.Equal(t, "/admin/failed?done=forgotten", w.Header().Get("Location"))
		require.Equal(t, 1, h.failedCount())
		w = h.do("GET", "/admin/failed?done=forgotten", nil, c)
		require.Contains(t, w.Body.String(), "The failed job was deleted.")

		// Retry all empties the list.
		w = h.do("POST", "/admin/failed/retry-all", url.Values{"_csrf": {tok}}, c)
		require.Equal(t, "/admin/failed?done=retried-all", w.Header().Get("Location"))
		require.Zero(t, h.failedCount())
		stats = queueStats(t, h.adm)
		require.Equal(t, 1, stats["default"].Pending)
		w = h.do("GET", "/admin/failed", nil, c)
		require.Contains(t, w.Body.String(), "No failed jobs")
	})
}

func queueStats(t *testing.T, adm driver.Admin) map[string]*driver.QueueStat {
	t.Helper()
	stats, err := adm.QueueStats(context.Background(), nil)
	require.NoError(t, err)
	out := map[string]*driver.QueueStat{}
	for _, s := range stats {
		out[s.Queue] = s
	}
	return out
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestPauseResume(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		h := newHarness(t, d)
		c := h.session(h.admin)
		tok := h.csrf(c)

		w := h.do("GET", "/admin", nil, c)
		require.Contains(t, w.Body.String(), `action="/admin/queues/emails/pause"`, "configured queues show while empty")

		w = h.do("POST", "/admin/queues/emails/pause", url.Values{"_csrf": {tok}}, c)
		require.Equal(t, http.StatusSeeOther, w.Code)
		require.Equal(t, "/admin?done=paused", w.Header().Get("Location"))
		paused, err := h.adm.QueuePausedList(context.Background())
		require.NoError(t, err)
		require.Len(t, paused, 1)
		require.Equal(t, "emails", paused[0].Queue)
		require.Equal(t, "dashboard:ops@example.com", paused[0].PausedBy)

		w = h.do("GET", "/admin", nil, c)
		body := w.Body.String()
		require.Contains(t, body, `action="/admin/queues/emails/resume"`)
		require.Contains(t, body, `id="tile-paused">1<`)

		w = h.do("POST", "/admin/queues/emails/resume", url.Values{"_csrf": {tok}}, c)
		require.Equal(t, http.StatusSeeOther, w.Code)
		paused, err = h.adm.QueuePausedList(context.Background())
		require.NoError(t, err)
		require.Empty(t, paused)
	})
}

func TestPagesRender(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		h := newHarness(t, d)
		c := h.session(h.admin)
		_, err := h.adm.BatchCreate(ctx, &driver.BatchCreateParams{ID: "9d1f0000-0000-4000-8000-000000000001", Name: "reminders", TotalJobs: 4})
		require.NoError(t, err)
		require.NoError(t, h.adm.JobMetricsRecord(ctx, []*driver.JobMetric{
			{Queue: "emails", Minute: time.Now().Add(-2 * time.Minute), Processed: 30, Failed: 2, RuntimeMS: 6400, MaxWaitMS: 120},
		}))
		require.NoError(t, schedule.NewRunLog(h.db).Record(ctx, schedule.Run{
			Name: "nightly-report", Tick: time.Now().Add(-time.Hour), StartedAt: time.Now().Add(-time.Hour),
			Outcome: schedule.OutcomeRan, Host: "web-1",
		}))

		for path, want := range map[string][]string{
			"/admin":                 {"Jobs per minute", `id="tile-hour">32<`, "<svg", "200 ms"},
			"/admin/jobs":            {"Jobs"},
			"/admin/jobs?state=nope": {"No pending jobs"},
			"/admin/batches":         {"reminders", `<progress max="100" value="0">`},
			"/admin/schedule":        {"nightly-report", "0 2 * * *", "web-1", "ran"},
			"/admin/workers":         {"Workers"},
			"/admin/bookings":        {"Booked today", "Rp0"},
		} {
			w := h.do("GET", path, nil, c)
			require.Equal(t, http.StatusOK, w.Code, path)
			for _, s := range want {
				require.Contains(t, w.Body.String(), s, path)
			}
		}
		w := h.do("GET", "/admin/nope", nil, c)
		require.Equal(t, http.StatusNotFound, w.Code)
		require.Contains(t, w.Header().Get("Content-Type"), "text/html")

		w = h.do("GET", "/admin/assets/dashboard.css", nil)
		require.Equal(t, http.StatusOK, w.Code, "the stylesheet needs no login")
		require.Contains(t, w.Header().Get("Content-Type"), "text/css")
	})
}
