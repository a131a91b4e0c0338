package dashboard_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/browsertest"
)

// TestMailPreviewBrowser: an operator logs in, opens Mail, and previews
// the invoice of a real booking in English and then in Bahasa Indonesia,
// as text and as the HTML the sandboxed frame shows.
func TestMailPreviewBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	browsertest.Chromium(t) // skips without a browser, before any setup
	app := newBrowserApp(t)
	shots := screenshotsDir(t)

	// A booking on a tour that departs on Monday 7 December 2026.
	ctx := context.Background()
	var userID int64
	require.NoError(t, app.db.QueryRowContext(ctx, app.db.Rebind(`SELECT id FROM users WHERE email = ?`), "ops@example.com").Scan(&userID))
	now := time.Now().UTC().Truncate(time.Second)
	tour := &booking.Tour{Title: "Ijen Blue Fire", Destination: "Banyuwangi", Description: "Crater hike", DepartureDate: "2026-12-07",
		Price: 450000, Capacity: 10, Quota: 8, CreatedAt: now, UpdatedAt: now}
	require.NoError(t, app.db.TourCreate(ctx, tour))
	_, err := app.db.ExecContext(ctx, app.db.Rebind(`INSERT INTO bookings (code, user_id, tour_id, quantity, unit_price, total_amount, status,
  expires_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		"TRP-BRWSR1", userID, tour.ID, 2, 450000, 900000, "pending", now.Add(30*time.Minute), now, now)
	require.NoError(t, err)

	b := newTab(t, browsertest.New(t, 1360, 1100, 2*time.Minute), app.srv.URL)

	// Log in on the way to the Mail page.
	b.open("/admin/mail")
	b.do(chromedp.WaitVisible(chromedp.CSS(`input[name="email"]`)))
	b.do(
		chromedp.SendKeys(chromedp.CSS(`#email`), "ops@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#password`), testPassword),
	)
	b.clickAndWait(`button[type="submit"]`, `#mail-subject`)
	require.Equal(t, "/admin/mail", b.path())
	require.Equal(t, "Invoice TRP-SAMPLE: Bromo Sunrise Trip", b.text("#mail-subject"), "the sample booking by default")
	require.Contains(t, b.text("nav a.on"), "Mail")

	// Choose the booking by its code.
	b.do(chromedp.SendKeys(chromedp.CSS(`input[name="booking"]`), "TRP-BRWSR1"))
	b.do(chromedp.Click(chromedp.CSS(`form.mail-form button[type="submit"]`)))
	waitText(b, "#mail-subject", "Invoice TRP-BRWSR1: Ijen Blue Fire")
	require.Equal(t, "/admin/mail?template=invoice&locale=en&booking=TRP-BRWSR1", b.path())
	require.Contains(t, b.text("#mail-text"), "Mon, 7 Dec 2026")
	require.Contains(t, b.text("#mail-text"), "Rp900.000")
	// The frame shows the HTML part; it loads under the page's policy.
	require.Equal(t, "/admin/mail/preview?booking=TRP-BRWSR1&locale=en&template=invoice",
		eval[string](b, `new URL(document.querySelector('#mail-html').src).pathname + new URL(document.querySelector('#mail-html').src).search`))
	require.True(t, eval[bool](b, `document.querySelector('#mail-html').sandbox.length === 0 && document.querySelector('#mail-html').hasAttribute('sandbox')`),
		"the frame is sandboxed with no permission")
	require.Equal(t, "760px", eval[string](b, `getComputedStyle(document.querySelector('#mail-html')).height`),
		"the page's stylesheet loads under the dashboard's policy")
	b.screenshot(shots, "dashboard-mail.png")

	// Switch to Bahasa Indonesia: the booking stays chosen.
	b.do(chromedp.Click(chromedp.CSS(`.mail-locales a[href*="locale=id"]`)))
	waitText(b, "#mail-subject", "Faktur TRP-BRWSR1: Ijen Blue Fire")
	require.Contains(t, b.text("#mail-text"), "Keberangkatan:")
	require.Contains(t, b.text("#mail-text"), "Senin, 7 Desember 2026")
	b.screenshot(shots, "dashboard-mail-id.png")

	// The HTML part, as the frame loads it.
	b.open(eval[string](b, `new URL(document.querySelector('#mail-html').src).pathname + new URL(document.querySelector('#mail-html').src).search`))
	html, err := chromedp.Run(b.ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	require.NoError(t, err)
	require.Contains(t, html, "Faktur untuk pemesanan")
	require.Contains(t, html, "Senin, 7 Desember 2026")
	require.Contains(t, html, "Bayar Rp900.000 sekarang")

	// A code no booking has is explained on the page.
	b.open("/admin/mail?template=invoice&locale=id&booking=TRP-NOPE00")
	b.do(chromedp.WaitVisible(chromedp.CSS(`#mail-error`)))
	require.Contains(t, b.text("#mail-error"), `No booking has the code "TRP-NOPE00"`)
}

// waitText waits until the element css holds want, as a page the browser
// is loading replaces the one before it, and the page has loaded (its
// stylesheets and frames too: the text is parsed before they arrive).
func waitText(b *tab, css, want string) {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	js := fmt.Sprintf(`document.readyState !== "complete" ? "(loading)" : (document.querySelector(%q) || {textContent: ""}).textContent.trim()`, css)
	for {
		// An evaluation that overlaps the navigation fails; the next one
		// reads the new page.
		got, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js))
		if err == nil && got == want {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s says %q, want %q", css, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
