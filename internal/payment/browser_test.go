package payment

import (
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/browsertest"
	"github.com/tripintravel/tripin/internal/store"
)

// TestPagesUnderCSPInBrowser opens the e-ticket and simulator pages in a
// real headless Chromium: under their Content-Security-Policy their own
// inline style applies and the ticket's print button works, while a script
// injected into the page does not run.
func TestPagesUnderCSPInBrowser(t *testing.T) {
	browsertest.Chromium(t) // skips without a browser, before any setup
	f := newFixture(t, store.SQLite, withEnv("PAYMENT_SIMULATOR", "true"))
	srv := testServer(t, f)
	f.cfg.AppURL = srv.URL
	user := f.user(t)
	paid, _ := f.booking(t, f.tour(t, 10), user, 1, booking.StatusPaid, false)
	_, pendingCode := f.booking(t, f.tour(t, 10), user, 1, booking.StatusPending, false)

	ctx := browsertest.New(t, 1280, 900, 90*time.Second)

	do := func(actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		require.NoError(t, chromedp.Do(ctx, actions...))
	}
	eval := func(js string) any {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[any](js))
		require.NoError(t, err, js)
		return v
	}
	const inject = `(function(){var s=document.createElement('script');s.textContent='window.__injected=1';document.body.appendChild(s);return window.__injected===undefined})()`

	do(chromedp.Navigate(f.svc.TicketURL(paid, time.Now().AddDate(0, 0, 5))), chromedp.WaitVisible(chromedp.CSS("#print")))
	// The inline stylesheet sets h1 to 1.5rem (the default is 2em).
	require.Equal(t, "24px", eval(`getComputedStyle(document.querySelector('h1')).fontSize`), "the ticket's inline style applies")
	eval(`window.print = function(){ window.__printed = true }; true`)
	do(chromedp.Click(chromedp.CSS("#print")))
	require.Equal(t, true, eval(`window.__printed === true`), "the ticket's inline script runs")
	require.Equal(t, true, eval(inject), "an injected inline script is refused")

	sim, err := url.Parse(f.svc.SimulatorURL(pendingCode, time.Now().Add(time.Hour)))
	require.NoError(t, err)
	do(chromedp.Navigate(srv.URL+sim.RequestURI()), chromedp.WaitVisible(chromedp.CSS(".note")))
	require.Equal(t, "rgb(254, 243, 199)", eval(`getComputedStyle(document.querySelector('.note')).backgroundColor`), "the simulator's inline style applies")
	require.Equal(t, true, eval(inject))
}
