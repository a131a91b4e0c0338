package dashboard

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/tripintravel/tripin/internal/secheaders"
)

// The list pages refresh themselves. A small inline script reloads the
// page every so many seconds; the Content-Security-Policy allows that
// script by its SHA-256 and no other. The script holds off while a form
// field on the page has focus and stops once one was edited (ticked
// checkboxes, half-typed filters), so a reload never throws input away.
// Reloading keeps the page's address, and with it its filters and
// cursor, but drops the one-off notice (?done=…).
//
// The operator pauses the refresh with a button on the page: a CSRF-
// protected form that sets a cookie, so the pause holds on every page,
// through filters and pagination, until they resume it. A paused page
// carries neither the script nor its interval.

// refreshCookie marks, with the value "paused", a browser whose operator
// paused the refresh.
const refreshCookie = "tripin_admin_refresh"

// defaultRefresh is how often a page reloads unless Params.Refresh says.
const defaultRefresh = 10 * time.Second

// refreshPauseTTL is how long a pause lasts when the operator forgets it.
const refreshPauseTTL = 30 * 24 * time.Hour

// refreshPolicy is the Content-Security-Policy of a page that refreshes
// itself: secheaders.DashboardPolicy and the refresh script, by its hash.
// Every other page (paused ones too) has secheaders.DashboardPolicy,
// which allows no script at all.
var refreshPolicy = secheaders.DashboardPolicy + "; script-src " + refreshScriptHash()

// scriptBlock finds the layout's one inline script.
var scriptBlock = regexp.MustCompile(`(?s)<script>(.*?)</script>`)

// refreshScriptHash returns the CSP source of the layout's inline script.
// The script must be static text: a template action inside it would make
// the hash of its output unforeseeable, so it panics on one.
func refreshScriptHash() string {
	src, err := templateFS.ReadFile("templates/layout.html")
	if err != nil {
		panic("dashboard: read layout: " + err.Error())
	}
	m := scriptBlock.FindAllSubmatch(src, -1)
	if len(m) != 1 || strings.Contains(string(m[0][1]), "{{") {
		panic("dashboard: layout.html must hold exactly one inline <script>, without template actions")
	}
	return secheaders.Hash(string(m[0][1]))
}

// Refreshing reports whether the page carries the refresh script: a
// logged-in page that refreshes, unless its operator paused the refresh.
func (v *view) Refreshing() bool {
	return v.User != nil && v.Refresh > 0 && !v.Paused
}

// refreshPaused reports whether the request's browser paused the refresh.
func refreshPaused(r *http.Request) bool {
	c, err := r.Cookie(refreshCookie)
	return err == nil && c.Value == "paused"
}

// refreshSeconds is the interval of the pages that refresh themselves.
func (d *Dashboard) refreshSeconds() int {
	return max(1, int(d.refresh/time.Second))
}

// here is the address of the page being rendered, without its one-off
// notice, to come back to after pausing or resuming.
func here(r *http.Request) string {
	u := *r.URL
	return withoutNotice(&u)
}

// withoutNotice is u's path and query without the one-off notice
// (?done=…).
func withoutNotice(u *url.URL) string {
	if q := u.Query(); q.Has("done") {
		q.Del("done")
		u.RawQuery = q.Encode()
	}
	return u.RequestURI()
}

// handleRefresh pauses (pause=1) or resumes (pause=0) the refresh of
// every page for this browser, and goes back to the page it came from.
func (d *Dashboard) handleRefresh(w http.ResponseWriter, r *http.Request, _ *session) {
	back := safeNext(r.PostForm.Get("back"))
	if u, err := url.Parse(back); err == nil {
		back = withoutNotice(u)
	}
	switch r.PostForm.Get("pause") {
	case "1":
		d.setCookie(w, r, refreshCookie, "paused", int(refreshPauseTTL/time.Second))
	case "0":
		d.setCookie(w, r, refreshCookie, "", -1)
	default:
		d.fail(w, r, http.StatusBadRequest, "Bad request", "Say pause=1 to pause the refresh or pause=0 to resume it. Nothing was changed.")
		return
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}
