// Package browsertest starts the headless Chromium that the browser tests
// of the dashboard, the payment pages and the API reference drive.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Chromium finds a Chromium or Chrome binary: TRIPIN_CHROMIUM, then
// /usr/bin/chromium, then one on PATH. Without one the test skips, except
// in CI, where a missing browser must not pass unnoticed.
func Chromium(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("TRIPIN_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const msg = "no Chromium found (tried /usr/bin/chromium, chromium, chromium-browser, google-chrome; set TRIPIN_CHROMIUM); install it, e.g. apt-get install chromium"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// New starts a headless Chromium with a window of width×height and
// returns a tab's context that ends after timeout. The browser is closed
// when the test ends.
func New(t testing.TB, width, height int, timeout time.Duration) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(Chromium(t)), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(width, height))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	ctx, cancel := context.WithTimeout(browserCtx, timeout)
	t.Cleanup(func() { cancel(); cancelBrowser(); cancelAlloc() })
	return ctx
}
