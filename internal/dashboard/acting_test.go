package dashboard_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/mail"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
	"github.com/tripintravel/tripin/queue/driver"
)

var (
	scriptRE  = regexp.MustCompile(`(?s)<script>(.*?)</script>`)
	refreshRE = regexp.MustCompile(`data-refresh="(\d+)"`)
)

// refreshPages are the pages that refresh themselves.
var refreshPages = []string{
	"/admin", "/admin/failed", "/admin/failed/search?error=smtp", "/admin/recent?tag=booking:1", "/admin/jobs",
	"/admin/batches", "/admin/workers", "/admin/schedule", "/admin/bookings", "/admin/bookings?q=ayu", "/admin/metrics",
}

func TestRefreshAndPause(t *testing.T) {
	h := newHarness(t, store.SQLite)
	c := h.session(h.admin)
	for _, path := range refreshPages {
		w := h.do("GET", path, nil, c)
		require.Equal(t, http.StatusOK, w.Code, path)
		body := w.Body.String()
		require.Regexp(t, refreshRE, body, path)
		require.Contains(t, body, `id="pause-refresh"`, path)
		// The policy allows the page's one script by its hash, and no
		// other script.
		scripts := scriptRE.FindAllStringSubmatch(body, -1)
		require.Len(t, scripts, 1, path)
		sum := sha256.Sum256([]byte(scripts[0][1]))
		csp := w.Header().Get("Content-Security-Policy")
		require.Contains(t, csp, "script-src 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'", path)
		require.NotContains(t, csp, "unsafe-inline")
	}
	// The login form and a job's page do not refresh.
	w := h.do("GET", "/admin/login", nil)
	require.NotRegexp(t, refreshRE, w.Body.String())
	require.NotContains(t, w.Body.String(), "<script>")
	require.NotContains(t, w.Header().Get("Content-Security-Policy"), "script-src", "a page without the script allows none")

	// Pausing is a CSRF-protected form that comes back to the page, its
	// filters kept and its one-off notice dropped.
	back := "/admin/recent?tag=booking:1&state=failed&done=retried-selected"
	w = h.do("POST", "/admin/refresh", url.Values{"pause": {"1"}, "back": {back}}, c)
	require.Equal(t, http.StatusForbidden, w.Code)
	require.Empty(t, w.Result().Cookies())
	tok := h.csrf(c)
	w = h.do("POST", "/admin/refresh", url.Values{"_csrf": {tok}, "pause": {"maybe"}, "back": {back}}, c)
	require.Equal(t, http.StatusBadRequest, w.Code)
	require.Empty(t, w.Result().Cookies(), "a bad request changes nothing")
	w = h.do("POST", "/admin/refresh", url.Values{"_csrf": {tok}, "pause": {"1"}, "back": {back}}, c)
	require.Equal(t, http.StatusSeeOther, w.Code)
	require.Equal(t, "/admin/recent?state=failed&tag=booking%3A1", w.Header().Get("Location"))
	var paused *http.Cookie
	for _, ck := range w.Result().Cookies() {
		if ck.Name == "tripin_admin_refresh" {
			paused = ck
		}
	}
	require.NotNil(t, paused)
	require.Equal(t, "/admin", paused.Path)
	require.True(t, paused.HttpOnly)
	require.Positive(t, paused.MaxAge)

	// Paused, no page carries the refresh, every page offers to resume,
	// and the pause holds through filters and pages.
	for _, path := range append(refreshPages, "/admin/recent?tag=booking:1&after=x") {
		w := h.do("GET", path, nil, c, paused)
		require.Equal(t, http.StatusOK, w.Code, path)
		body := w.Body.String()
		require.NotRegexp(t, refreshRE, body, path)
		require.NotContains(t, body, "<script>", path)
		require.NotContains(t, body, `http-equiv="refresh"`, path)
		require.NotContains(t, w.Header().Get("Content-Security-Policy"), "script-src", path)
		require.Contains(t, body, `id="resume-refresh"`, path)
		require.Contains(t, body, "Auto-refresh paused", path)
	}

	// Resuming clears the cookie. A back address off the dashboard
	// lands on the overview instead.
	w = h.do("POST", "/admin/refresh", url.Values{"_csrf": {tok}, "pause": {"0"}, "back": {"https://evil.example/admin"}}, c, paused)
	require.Equal(t, http.StatusSeeOther, w.Code)
	require.Equal(t, "/admin", w.Header().Get("Location"))
	cleared := false
	for _, ck := range w.Result().Cookies() {
		cleared = cleared || ck.Name == "tripin_admin_refresh" && ck.MaxAge < 0
	}
	require.True(t, cleared)
}

func TestBatchCancel(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		h := newHarness(t, d)
		c := h.session(h.admin)
		ctx := context.Background()
		_, err := h.adm.BatchCreate(ctx, &driver.BatchCreateParams{ID: "b-run", Name: "tickets", TotalJobs: 3})
		require.NoError(t, err)
		_, err = h.adm.BatchCreate(ctx, &driver.BatchCreateParams{ID: "b-other", Name: "reports", TotalJobs: 2})
		require.NoError(t, err)

		w := h.do("GET", "/admin/batches", nil, c)
		require.Contains(t, w.Body.String(), `action="/admin/batches/b-run/cancel"`)

		w = h.do("POST", "/admin/batches/b-run/cancel", url.Values{"_csrf": {"forged"}}, c)
		require.Equal(t, http.StatusForbidden, w.Code)
		b, err := h.adm.BatchGet(ctx, "b-run")
		require.NoError(t, err)
		require.False(t, b.Cancelled(), "a forged form changes nothing")

		w = h.do("POST", "/admin/batches/b-run/cancel", url.Values{"_csrf": {h.csrf(c)}}, c)
		require.Equal(t, http.StatusSeeOther, w.Code)
		require.Equal(t, "/admin/batches?done=batch-cancelled", w.Header().Get("Location"))
		b, err = h.adm.BatchGet(ctx, "b-run")
		require.NoError(t, err)
		require.True(t, b.Cancelled())
		other, err := h.adm.BatchGet(ctx, "b-other")
		require.NoError(t, err)
		require.False(t, other.Cancelled(), "only the batch asked for is cancelled")

		body := h.do("GET", "/admin/batches?done=batch-cancelled", nil, c).Body.String()
		require.Contains(t, body, "The batch is cancelled")
		row := regexp.MustCompile(`(?s)<tr data-batch="b-run">.*?</tr>`).FindString(body)
		require.Contains(t, row, "cancelled")
		require.NotContains(t, row, "/cancel", "a cancelled batch offers no Cancel")
		require.Contains(t, body, `action="/admin/batches/b-other/cancel"`)

		w = h.do("POST", "/admin/batches/nope/cancel", url.Values{"_csrf": {h.csrf(c)}}, c)
		require.Equal(t, http.StatusNotFound, w.Code)
	})
}

// bookingFixture is a tour the harness's bookings are made on.
type bookingFixture struct {
	h    *harness
	tour *booking.Tour
}

func newBookingFixture(h *harness) *bookingFixture {
	h.t.Helper()
	now := time.Now().UTC()
	tour := &booking.Tour{Title: "Bromo sunrise", Destination: "East Java", DepartureDate: now.AddDate(0, 1, 0).Format(time.DateOnly), Price: 750000, Capacity: 500, Quota: 500}
	require.NoError(h.t, h.db.TourCreate(context.Background(), tour))
	return &bookingFixture{h: h, tour: tour}
}

// book stores a pending booking of u with code.
func (f *bookingFixture) book(u *booking.User, code string) *booking.Booking {
	f.h.t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	b := &booking.Booking{Code: code, UserID: u.ID, TourID: f.tour.ID, Quantity: 2, UnitPrice: 750000, TotalAmount: 1500000,
		Status: booking.StatusPending, ExpiresAt: now.Add(30 * time.Minute), CreatedAt: now, UpdatedAt: now}
	require.NoError(f.h.t, f.h.db.InTx(ctx, func(tx *sql.Tx) error { return f.h.db.BookingInsertTx(ctx, tx, b) }))
	return b
}

func (h *harness) user(email string) *booking.User {
	h.t.Helper()
	now := time.Now().UTC()
	u := &booking.User{Name: "Customer", Email: email, PasswordHash: "x", CreatedAt: now, UpdatedAt: now}
	require.NoError(h.t, h.db.UserCreate(context.Background(), u))
	return u
}

var codeRE = regexp.MustCompile(`<tr data-code="([A-Z0-9-]+)">`)

func codesListed(body string) []string {
	var out []string
	for _, m := range codeRE.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestBookingSearch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		h := newHarness(t, d)
		c := h.session(h.admin)
		f := newBookingFixture(h)
		ayub, budi, pct := h.user("ayub@example.org"), h.user("budi@example.com"), h.user("a%b@example.com")
		f.book(h.customer, "TRP-20261207-AAAAAA")
		f.book(h.customer, "TRP-20261207-AAAAAB")
		f.book(ayub, "TRP-20261207-BBBBBB")
		f.book(budi, "TRP-20261208-CCCCCC")
		f.book(pct, "TRP-20261209-DDDDDD")

		search := func(q string) (int, string) {
			w := h.do("GET", "/admin/bookings?"+url.Values{"q": {q}}.Encode(), nil, c)
			return w.Code, w.Body.String()
		}
		for q, want := range map[string][]string{
			"TRP-20261207":      {"TRP-20261207-BBBBBB", "TRP-20261207-AAAAAB", "TRP-20261207-AAAAAA"},
			"trp-20261207-aaaa": {"TRP-20261207-AAAAAB", "TRP-20261207-AAAAAA"},
			"TRP-2026120":       {"TRP-20261209-DDDDDD", "TRP-20261208-CCCCCC", "TRP-20261207-BBBBBB", "TRP-20261207-AAAAAB", "TRP-20261207-AAAAAA"},
			"TRP-2025":          nil,
			"ayu@example.com":   {"TRP-20261207-AAAAAB", "TRP-20261207-AAAAAA"},
			" AYU@Example.COM ": {"TRP-20261207-AAAAAB", "TRP-20261207-AAAAAA"},
			"ayu":               {"TRP-20261207-BBBBBB", "TRP-20261207-AAAAAB", "TRP-20261207-AAAAAA"},
			"a%":                {"TRP-20261209-DDDDDD"},
			"a_":                nil,
			"budi@example.org":  nil,
		} {
			code, body := search(q)
			require.Equal(t, http.StatusOK, code, q)
			require.Equal(t, want, codesListed(body), q)
			require.NotContains(t, body, "Today's bookings</h2>", q)
		}
		// A whole code that exists opens its booking.
		w := h.do("GET", "/admin/bookings?q=trp-20261208-cccccc", nil, c)
		require.Equal(t, http.StatusSeeOther, w.Code)
		require.Equal(t, "/admin/bookings/TRP-20261208-CCCCCC", w.Header().Get("Location"))
		// Nonsense is explained, not a 500.
		for _, q := range []string{"TRP-2026'; DROP TABLE bookings", "TRP-" + strings.Repeat("A", 40), "ayu\x00"} {
			code, body := search(q)
			require.Equal(t, http.StatusOK, code, q)
			require.Contains(t, body, `class="notice error-panel"`, q)
			require.Empty(t, codesListed(body), q)
		}
		// Without a search the page is today's.
		_, body := search("")
		require.Contains(t, body, "Today's bookings</h2>")
	})
}

func TestBookingSearchPages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		h := newHarness(t, d)
		c := h.session(h.admin)
		f := newBookingFixture(h)
		want := map[string]bool{}
		for i := range 57 {
			code := fmt.Sprintf("TRP-20261207-%06d", i)
			f.book(h.customer, code)
			want[code] = true
		}
		f.book(h.admin, "TRP-20261207-ZZZZZZ")
		for _, q := range []string{"TRP-20261207-0", "ayu@example.com"} {
			var seen []string
			path := "/admin/bookings?" + url.Values{"q": {q}}.Encode()
			for pages := 0; path != ""; pages++ {
				require.Less(t, pages, 3, q)
				body := h.do("GET", path, nil, c).Body.String()
				page := codesListed(body)
				require.LessOrEqual(t, len(page), 50)
				seen = append(seen, page...)
				path = ""
				if m := regexp.MustCompile(`href="([^"]+)" id="bookings-next"`).FindStringSubmatch(body); m != nil {
					path = strings.ReplaceAll(m[1], "&amp;", "&")
				}
			}
			require.Len(t, seen, 57, q)
			got := map[string]bool{}
			for _, code := range seen {
				got[code] = true
			}
			require.Equal(t, want, got, q)
			if q == "ayu@example.com" {
				require.True(t, slices.IsSortedFunc(seen, func(a, b string) int { return strings.Compare(b, a) }), "newest first")
			}
		}
	})
}

// stepRE finds a timeline step and what it links to.
var stepRE = regexp.MustCompile(`(?s)<li data-step="([a-z]+)"(?: class="awaited")?>(.*?)</li>`)

func timeline(body string) ([]string, map[string]string) {
	var keys []string
	inner := map[string]string{}
	for _, m := range stepRE.FindAllStringSubmatch(body, -1) {
		keys = append(keys, m[1])
		inner[m[1]] += m[2]
	}
	return keys, inner
}

func TestBookingPage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		h := newHarness(t, d)
		c := h.session(h.admin)
		ctx := context.Background()
		f := newBookingFixture(h)
		b := f.book(h.customer, "TRP-20261207-TLINE2")
		invoice := h.addCompleted("SendInvoiceEmail", b.JobTags()...)
		expiry := h.addWaiting("ExpireBooking", "default", time.Hour, b.JobTags()...)
		other := h.addWaiting("SendInvoiceEmail", "emails", 0, "booking:999999")

		// Before the invoice went out, the timeline awaits it and shows
		// its job.
		w := h.do("GET", "/admin/bookings/"+b.Code, nil, c)
		require.Equal(t, http.StatusOK, w.Code)
		keys, steps := timeline(w.Body.String())
		require.Equal(t, []string{"created", "invoice"}, keys)
		require.Contains(t, steps["invoice"], invoice)
		require.Contains(t, steps["created"], expiry)
		require.NotContains(t, w.Body.String(), other)

		// The invoice is sent, a notification pays the booking, the
		// e-ticket goes out.
		sent := mail.NewSentStore(h.db)
		base := time.Now().UTC().Truncate(time.Second)
		require.NoError(t, sent.RecordSent(ctx, nil, &mail.SentEmail{BookingID: b.ID, Kind: mail.KindInvoice, MessageID: "<inv@tripin>", Recipient: h.customer.Email, SentAt: base.Add(time.Second)}))
		_, err := h.db.ExecContext(ctx, h.db.Rebind(`INSERT INTO payment_notifications (order_id, transaction_id, transaction_status, status_code,
  gross_amount, signature_valid, outcome, payload, received_at, processed_at) VALUES (?, 'txn-1', 'pending', '201', '1500000.00', ?, 'pending', '{}', ?, ?)`),
			b.Code, true, base.Add(2*time.Second), base.Add(2*time.Second))
		require.NoError(t, err)
		_, err = h.db.ExecContext(ctx, h.db.Rebind(`INSERT INTO payment_notifications (order_id, transaction_id, transaction_status, status_code,
  gross_amount, signature_valid, outcome, payload, received_at, processed_at) VALUES (?, 'txn-1', 'settlement', '200', '1500000.00', ?, 'paid', '{}', ?, ?)`),
			b.Code, true, base.Add(3*time.Second), base.Add(3*time.Second))
		require.NoError(t, err)
		_, err = h.db.ExecContext(ctx, h.db.Rebind(`INSERT INTO payment_notifications (order_id, transaction_status, signature_valid, outcome, payload, received_at)
  VALUES ('TRP-20261207-OTHER1', 'settlement', ?, 'unknown_order', '{}', ?)`), false, base)
		require.NoError(t, err)
		_, err = h.db.ExecContext(ctx, h.db.Rebind(`UPDATE bookings SET status = 'paid', paid_at = ?, transaction_id = 'txn-1', payment_type = 'qris' WHERE id = ?`),
			base.Add(3*time.Second), b.ID)
		require.NoError(t, err)

		w = h.do("GET", "/admin/bookings/"+b.Code, nil, c)
		require.Equal(t, http.StatusOK, w.Code)
		body := w.Body.String()
		keys, steps = timeline(body)
		require.Equal(t, []string{"created", "invoice", "paid", "eticket"}, keys, "the e-ticket of a paid booking is awaited")
		require.Contains(t, steps["paid"], "settlement → paid")
		require.NotContains(t, steps["paid"], "pending → pending", "only the notification that paid it")
		require.Contains(t, steps["invoice"], "Invoice sent")
		require.Contains(t, steps["eticket"], "awaited")
		require.Equal(t, 2, strings.Count(body, `<tr id="notification-`), "both of its notifications, not another order's")
		require.Contains(t, body, `id="booking-status">paid<`)

		ticket := h.addCompleted("SendETicketEmail", booking.JobTag(b.ID))
		require.NoError(t, sent.RecordSent(ctx, nil, &mail.SentEmail{BookingID: b.ID, Kind: mail.KindETicket, MessageID: "<tkt@tripin>", Recipient: h.customer.Email, SentAt: base.Add(4 * time.Second)}))
		w = h.do("GET", "/admin/bookings/"+b.Code, nil, c)
		keys, steps = timeline(w.Body.String())
		require.Equal(t, []string{"created", "invoice", "paid", "eticket"}, keys)
		require.Contains(t, steps["eticket"], "E-ticket sent")
		require.Contains(t, steps["eticket"], `href="/admin/recent/`+ticket, "the step links the job that did it")

		// The job's page leads back to the booking's.
		require.Contains(t, h.do("GET", "/admin/recent/"+ticket, nil, c).Body.String(), `href="/admin/bookings/`+b.Code+`"`)

		// An expired booking shows its end and the job that expired it.
		e := f.book(h.customer, "TRP-20261207-EXPIRE")
		expJob := h.addCompleted("ExpireBooking", e.JobTags()...)
		_, err = h.db.ExecContext(ctx, h.db.Rebind(`UPDATE bookings SET status = 'expired', expired_at = ? WHERE id = ?`), base.Add(time.Minute), e.ID)
		require.NoError(t, err)
		keys, steps = timeline(h.do("GET", "/admin/bookings/"+e.Code, nil, c).Body.String())
		require.Equal(t, []string{"created", "expired"}, keys, "an expired booking awaits no invoice")
		require.Contains(t, steps["expired"], expJob)
		// One whose invoice job failed shows that the invoice never went.
		failedInvoice := h.addFailedTagged("SendInvoiceEmail", "smtp: 550", e.JobTags()...)
		keys, steps = timeline(h.do("GET", "/admin/bookings/"+e.Code, nil, c).Body.String())
		require.Equal(t, []string{"created", "expired", "invoice"}, keys)
		require.Contains(t, steps["invoice"], "Invoice not sent")
		require.NotContains(t, steps["invoice"], "not sent yet")
		require.Contains(t, steps["invoice"], failedInvoice)

		w = h.do("GET", "/admin/bookings/TRP-20990101-NOSUCH", nil, c)
		require.Equal(t, http.StatusNotFound, w.Code)
		w = h.do("GET", "/admin/bookings/"+url.PathEscape("<script>"), nil, c)
		require.Equal(t, http.StatusNotFound, w.Code)
		require.NotContains(t, w.Body.String(), "<script>alert")
	})
}

// TestBookingSearchBoundsAnEmailPrefix: a prefix that matches more
// customers than the search reads asks for more of the address instead
// of scanning them all.
func TestBookingSearchBoundsAnEmailPrefix(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		h := newHarness(t, d)
		c := h.session(h.admin)
		now := time.Now().UTC().Truncate(time.Second)
		var (
			rows []string
			args []any
		)
		for i := range store.DashboardSearchMaxUsers + 1 {
			rows = append(rows, "(?, ?, 'x', ?, ?, ?)")
			args = append(args, "Guest", fmt.Sprintf("guest%03d@example.com", i), false, now, now)
		}
		_, err := h.db.ExecContext(context.Background(), h.db.Rebind(
			"INSERT INTO users (name, email, password, is_admin, created_at, updated_at) VALUES "+strings.Join(rows, ", ")), args...)
		require.NoError(t, err)
		f := newBookingFixture(h)
		g, err := h.db.UserGetByEmail(context.Background(), "guest007@example.com")
		require.NoError(t, err)
		f.book(g, "TRP-20261207-GUEST7")

		w := h.do("GET", "/admin/bookings?q=guest", nil, c)
		require.Equal(t, http.StatusOK, w.Code)
		require.Contains(t, w.Body.String(), "More than 200 customers")
		require.Empty(t, codesListed(w.Body.String()))
		w = h.do("GET", "/admin/bookings?q=guest00", nil, c)
		require.Equal(t, []string{"TRP-20261207-GUEST7"}, codesListed(w.Body.String()), "ten customers are few enough")
	})
}
