package dashboard_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/browsertest"
	"github.com/tripintravel/tripin/internal/dashboard"
	"github.com/tripintravel/tripin/internal/expiry"
	"github.com/tripintravel/tripin/internal/mail"
	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver"
)

// TestBrowserActing drives the acting pages in Chromium: the pages
// refresh themselves under the Content-Security-Policy, hold off while a
// form is being filled, and stay still once paused, across pages; a
// booking's jobs are found by its code; a failed job is retried from a
// search; a batch is cancelled; a booking's page shows its timeline.
func TestBrowserActing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	browsertest.Chromium(t)
	const every = 2 * time.Second
	app := newBrowserApp(t, func(p *dashboard.Params) { p.Refresh = every })
	shots := screenshotsDir(t)
	ctx := browsertest.New(t, 1360, 900, 3*time.Minute)
	b := newTab(t, ctx, app.srv.URL)
	bg := context.Background()

	// A booking with its invoice job waiting, its expiry job due in half
	// an hour and an e-ticket job that failed for good.
	now := time.Now().UTC().Truncate(time.Second)
	tour := &booking.Tour{Title: "Ijen blue fire", Destination: "East Java", DepartureDate: now.AddDate(0, 1, 0).Format(time.DateOnly), Price: 900000, Capacity: 20, Quota: 20}
	require.NoError(t, app.db.TourCreate(bg, tour))
	cust, err := booking.NewAccounts(booking.AccountsParams{Store: app.db}).CreateUser(bg, booking.NewUser{Name: "Sari", Email: "sari@example.com", Password: testPassword})
	require.NoError(t, err)
	bk := &booking.Booking{Code: booking.NewCode(now, time.UTC), UserID: cust.ID, TourID: tour.ID, Quantity: 2, UnitPrice: 900000, TotalAmount: 1800000,
		Status: booking.StatusPending, ExpiresAt: now.Add(30 * time.Minute), CreatedAt: now, UpdatedAt: now}
	require.NoError(t, app.db.InTx(bg, func(tx *sql.Tx) error { return app.db.BookingInsertTx(bg, tx, bk) }))
	tags := bk.JobTags()
	_, err = app.client.Insert(bg, mail.SendInvoiceEmail{BookingID: bk.ID}, &queue.InsertOpts{Queue: "emails", Tags: tags})
	require.NoError(t, err)
	_, err = app.client.Insert(bg, expiry.ExpireBooking{BookingID: bk.ID}, &queue.InsertOpts{RunAt: bk.ExpiresAt, Tags: tags})
	require.NoError(t, err)
	failedTicket := uuid.NewString()
	_, err = app.db.ExecContext(bg, `INSERT INTO failed_jobs (uuid, connection, queue, payload, exception) VALUES (?, 'database', 'emails', ?, ?)`,
		failedTicket, tagPayload(failedTicket, "SendETicketEmail", booking.JobTag(bk.ID)), "smtp: 421 4.7.0 try again later")
	require.NoError(t, err)
	_, err = app.adm.BatchCreate(bg, &driver.BatchCreateParams{ID: "tickets-run", Name: "e-tickets for Ijen", TotalJobs: 20})
	require.NoError(t, err)

	// Log in.
	b.open("/admin/login")
	b.do(chromedp.SendKeys(chromedp.CSS(`#email`), "ops@example.com"), chromedp.SendKeys(chromedp.CSS(`#password`), testPassword))
	b.clickAndWait(`button[type="submit"]`, `table#queues`)

	// The page reloads itself: its script, which only the policy lets
	// run, sets its interval, and a tick of it leaves the page (tick says
	// so: the navigation starts within the tick) for a new copy, in which
	// a mark left in the old one is gone. The tab's timer ticks only when
	// the test says (newTab); the browser's own timer is tried at the end.
	mark := func() { eval[bool](b, `(window.tripinMark = true)`) }
	marked := func() bool { return eval[bool](b, `window.tripinMark === true`) }
	tick := func() bool {
		return eval[bool](b, `(function () {
  var left = false;
  window.addEventListener("beforeunload", function () { left = true; });
  if (window.navigation) { navigation.addEventListener("navigate", function () { left = true; }); }
  refreshTick();
  return left;
})()`)
	}
	reloaded := func(what string) {
		t.Helper()
		require.Eventually(t, func() bool {
			v, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`window.tripinMark === true`))
			return err == nil && !v
		}, 20*time.Second, 50*time.Millisecond, what)
	}
	b.open("/admin/batches?done=none")
	b.do(chromedp.WaitVisible(chromedp.CSS(`table#batches`)))
	require.Equal(t, "2", eval[string](b, `document.body.dataset.refresh`))
	require.Equal(t, int(every/time.Millisecond), eval[int](b, `window.refreshEvery`), "the policy let the script run")
	mark()
	require.True(t, tick(), "a tick of an untouched page reloads it")
	reloaded("the page did not reload itself")
	b.do(chromedp.WaitVisible(chromedp.CSS(`table#batches`)))
	require.Equal(t, "/admin/batches", b.path(), "the reload keeps the page and drops its one-off notice")

	// A booking's jobs by its code, on Recent jobs: the invoice and the
	// expiry, and the failed e-ticket.
	b.open("/admin/recent")
	b.do(chromedp.SendKeys(chromedp.CSS(`#recent-filters input[name="tag"]`), bk.Code))
	b.clickAndWait(`#recent-filters button[type="submit"]`, `table#recent`)
	jobs := eval[string](b, `Array.from(document.querySelectorAll('table#recent tbody tr[data-job]')).map(r => r.dataset.job + ":" + r.dataset.state).sort().join(",")`)
	require.Equal(t, "ExpireBooking:delayed,SendETicketEmail:failed,SendInvoiceEmail:pending", jobs)
	require.Contains(t, b.text("main"), "Every job of booking "+bk.Code)

	// Retry the failed e-ticket from a search. Ticking its box holds the
	// refresh, focused or not, so the choice is not lost.
	b.open("/admin/failed/search")
	b.do(chromedp.SendKeys(chromedp.CSS(`#failed-filters input[name="tag"]`), bk.Code))
	b.clickAndWait(`#failed-filters button[type="submit"]`, `table#failed-found`)
	box := `table#failed-found tr[data-uuid="` + failedTicket + `"] input[name="uuid"]`
	b.do(chromedp.Click(chromedp.CSS(box)))
	eval[bool](b, `(document.activeElement.blur(), document.activeElement === document.body)`)
	mark()
	require.False(t, tick(), "the page reloaded while a box was ticked")
	require.False(t, tick(), "the page reloaded while a box was ticked")
	require.True(t, marked())
	require.True(t, eval[bool](b, `document.querySelector(`+"`"+box+"`"+`).checked`))
	require.Contains(t, b.text("#refresh-state"), "held")
	b.clickAndWait(`#retry-selected`, `.notice`)
	require.Contains(t, b.text(".notice"), "pushed back")
	require.Zero(t, eval[int](b, `document.querySelectorAll('table#failed-found tr[data-uuid]').length`), "the retried job left the failed list")
	n, err := app.adm.FailedCount(bg, "")
	require.NoError(t, err)
	require.Zero(t, n)

	// Pause the refresh: the page comes back without it, and stays so on
	// other pages, through a filter and its next page.
	b.clickAndWait(`#pause-refresh`, `#resume-refresh`)
	require.Contains(t, b.path(), "/admin/failed/search?")
	noRefresh := func(where string) {
		t.Helper()
		require.False(t, eval[bool](b, `document.body.hasAttribute("data-refresh")`), where)
		require.Zero(t, eval[int](b, `document.scripts.length + document.querySelectorAll('meta[http-equiv="refresh" i]').length`), where)
		require.True(t, eval[bool](b, `window.refreshTick === undefined`), where+": a paused page sets no timer")
		require.Contains(t, b.text("#refresh-state"), "paused", where)
	}
	noRefresh("after pausing")
	b.open("/admin/recent")
	b.do(chromedp.SendKeys(chromedp.CSS(`#recent-filters input[name="tag"]`), "booking:"+itoa(bk.ID)))
	b.clickAndWait(`#recent-filters button[type="submit"]`, `table#recent`)
	noRefresh("a filtered page")

	// Cancel a batch: its row says so.
	b.open("/admin/batches")
	noRefresh("batches")
	b.clickAndWait(`tr[data-batch="tickets-run"] form[action$="/cancel"] button`, `.notice`)
	require.Contains(t, b.text(".notice"), "cancelled")
	require.Equal(t, "cancelled", b.text(`tr[data-batch="tickets-run"] .batch-state`))
	bt, err := app.adm.BatchGet(bg, "tickets-run")
	require.NoError(t, err)
	require.True(t, bt.Cancelled())

	// The invoice goes out and the booking is paid; its page, found by
	// its code on the bookings page, shows the timeline with the jobs
	// and the notification that did each step.
	require.NoError(t, mail.NewSentStore(app.db).RecordSent(bg, nil, &mail.SentEmail{BookingID: bk.ID, Kind: mail.KindInvoice,
		MessageID: "<invoice-1@tripin>", Recipient: cust.Email, SentAt: now.Add(5 * time.Second)}))
	_, err = app.db.ExecContext(bg, `INSERT INTO payment_notifications (order_id, transaction_id, transaction_status, status_code, gross_amount,
  signature_valid, outcome, payload, received_at, processed_at) VALUES (?, 'txn-ijen', 'settlement', '200', '1800000.00', 1, 'paid', '{}', ?, ?)`,
		bk.Code, now.Add(time.Minute), now.Add(time.Minute))
	require.NoError(t, err)
	_, err = app.db.ExecContext(bg, `UPDATE bookings SET status = 'paid', paid_at = ?, transaction_id = 'txn-ijen', payment_type = 'qris' WHERE id = ?`,
		now.Add(time.Minute), bk.ID)
	require.NoError(t, err)
	b.open("/admin/bookings")
	b.do(chromedp.SendKeys(chromedp.CSS(`#booking-search input[name="q"]`), strings.ToLower(bk.Code)))
	b.clickAndWait(`#booking-search button[type="submit"]`, `#timeline`)
	require.Equal(t, "/admin/bookings/"+bk.Code, b.path())
	noRefresh("the booking's page")
	steps := eval[string](b, `Array.from(document.querySelectorAll('#timeline li')).map(l => l.dataset.step).join(",")`)
	require.Equal(t, "created,invoice,paid,eticket", steps)
	require.Contains(t, b.text(`#timeline li[data-step="invoice"]`), "SendInvoiceEmail")
	require.Contains(t, b.text(`#timeline li[data-step="paid"]`), "settlement → paid")
	require.Contains(t, b.text(`#timeline li[data-step="eticket"]`), "SendETicketEmail", "the retried e-ticket job waits")
	require.Equal(t, "paid", b.text("#booking-status"))
	b.screenshot(shots, "dashboard-booking.png")
	b.clickAndWait(`#timeline li[data-step="invoice"] a.job`, `#job-facts`)
	require.Equal(t, "pending", b.text("#job-state"))
	require.Contains(t, b.text("#job-tags"), bk.Code)

	// Search by the customer's address lists the booking.
	b.open("/admin/bookings")
	b.do(chromedp.SendKeys(chromedp.CSS(`#booking-search input[name="q"]`), "sari@"))
	b.clickAndWait(`#booking-search button[type="submit"]`, `#booking-results`)
	require.Equal(t, bk.Code, b.text(`#booking-results tr[data-code] td.mono`))

	// Resume: the refresh is back.
	b.clickAndWait(`#resume-refresh`, `#pause-refresh`)
	require.Equal(t, "2", eval[string](b, `document.body.dataset.refresh`))
	require.Contains(t, b.path(), "/admin/bookings?q=sari")

	// The browser's own timer reloads the page (the last step: from now
	// on the page moves by itself).
	eval[bool](b, `(sessionStorage.setItem("realRefreshTimer", "1"), true)`)
	b.open("/admin/batches")
	require.Eventually(t, func() bool {
		_, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`(window.tripinMark = true)`))
		return err == nil
	}, 20*time.Second, 50*time.Millisecond)
	reloaded("the browser's timer did not reload the page")
}
