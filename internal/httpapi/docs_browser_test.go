package httpapi_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/browsertest"
	"github.com/tripintravel/tripin/internal/store"
)

// watchPage is run by the browser in every document before the page's
// own scripts: it records what the Content-Security-Policy refused and
// any uncaught error.
const watchPage = `
window.__violations = [];
window.__errors = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__violations.push(e.effectiveDirective + " refused " + (e.blockedURI || "inline code"));
});
window.addEventListener("error", function (e) { window.__errors.push(String(e.message)); });
`

// TestDocsPageBrowser renders /api/docs in headless Chromium: Swagger UI,
// served by Tripin itself, loads the document and shows every operation,
// and the page's Content-Security-Policy refuses nothing it does.
func TestDocsPageBrowser(t *testing.T) {
	browsertest.Chromium(t) // skips without a browser, before any setup
	a := newAPI(t, store.SQLite, nil)

	ctx := browsertest.New(t, 1280, 900, 90*time.Second)

	_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: watchPage})
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(a.url+"/api/docs"),
		chromedp.WaitVisible(chromedp.CSS(".swagger-ui .info .title")),
		chromedp.WaitVisible(chromedp.CSS("#operations-bookings-createBooking")),
	))
	eval := func(js string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		require.NoError(t, err, js)
		return v
	}
	require.Contains(t, eval(`document.querySelector(".swagger-ui .info .title").textContent`), "Tripin API")
	ops, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(".opblock").length`))
	require.NoError(t, err)
	require.Equal(t, len(documentedRoutes(loadDocument(t))), ops, "one block per operation")

	// The screenshot shows the top of the page, as a reader first sees it.
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	require.NoError(t, err)
	dir := t.TempDir()
	if os.Getenv(screenshotsEnv) == "1" {
		dir = filepath.Join("..", "..", "docs", "screenshots")
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "api-docs.png"), shot, 0o644))

	// Opening an operation renders its parameters, body and responses.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#operations-bookings-createBooking .opblock-summary-control")),
		chromedp.WaitVisible(chromedp.CSS("#operations-bookings-createBooking .responses-wrapper")),
	))
	require.Contains(t, eval(`document.querySelector("#operations-bookings-createBooking").textContent`), "Idempotency-Key")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#operations-payments-midtransCallback .opblock-summary-control")),
		chromedp.WaitVisible(chromedp.CSS("#operations-payments-midtransCallback .responses-wrapper")),
	))

	require.Equal(t, "[]", eval(`JSON.stringify(window.__violations)`), "the page's policy refused something")
	require.Equal(t, "[]", eval(`JSON.stringify(window.__errors)`))

	// The watch does see what the policy refuses: an inline script is.
	eval(`(function () { var s = document.createElement("script"); s.textContent = "window.__ran = 1"; document.body.appendChild(s); return "" })()`)
	require.Eventually(t, func() bool { return eval(`JSON.stringify(window.__violations)`) != "[]" }, 5*time.Second, 50*time.Millisecond)
	require.Equal(t, "undefined", eval(`typeof window.__ran`))
}

// screenshotsEnv, set to 1, makes the browser test write its screenshot
// into docs/screenshots instead of a temporary directory.
const screenshotsEnv = "TRIPIN_UPDATE_SCREENSHOTS"
