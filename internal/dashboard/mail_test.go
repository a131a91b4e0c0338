package dashboard_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/internal/store/storetest"
)

// addMailBooking stores a paid booking of the customer on a tour that
// departs on Monday 7 December 2026, and returns its code.
func (h *harness) addMailBooking(code string) {
	h.t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	tour := &booking.Tour{Title: "Ijen Blue Fire", Destination: "Banyuwangi", Description: "Crater hike", DepartureDate: "2026-12-07",
		Price: 450000, Capacity: 10, Quota: 8, CreatedAt: now, UpdatedAt: now}
	require.NoError(h.t, h.db.TourCreate(ctx, tour))
	_, err := h.db.ExecContext(ctx, h.db.Rebind(`INSERT INTO bookings (code, user_id, tour_id, quantity, unit_price, total_amount, status,
  expires_at, paid_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		code, h.customer.ID, tour.ID, 2, 450000, 900000, "paid", now.Add(30*time.Minute), now.Add(5*time.Minute), now, now)
	require.NoError(h.t, err)
}

// TestMailPreviews: /admin/mail lists every email with the files it
// comes from and previews one with sample data or a real booking, in
// English or Indonesian, as text and (through its own sandboxed route)
// HTML; a wrong template, language or booking code says so and changes
// nothing.
func TestMailPreviews(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		h := newHarness(t, d)
		h.addMailBooking("TRP-MAIL42")
		admin := h.session(h.admin)

		w := h.do("GET", "/admin/mail", nil)
		require.Equal(t, http.StatusSeeOther, w.Code, "a login is needed")
		w = h.do("GET", "/admin/mail/preview", nil)
		require.Equal(t, http.StatusSeeOther, w.Code, "for the preview too")
		w = h.do("GET", "/admin/mail", nil, h.session(h.customer))
		require.Equal(t, http.StatusForbidden, w.Code, "administrators only")

		w = h.do("GET", "/admin/mail", nil, admin)
		require.Equal(t, http.StatusOK, w.Code)
		page := w.Body.String()
		for _, want := range []string{
			">Invoice</a>", ">E-ticket</a>", ">Test mail</a>",
			"embedded:templates/invoice.html", "embedded:templates/subjects.txt",
			`<dd id="mail-subject">Invoice TRP-SAMPLE: Bromo Sunrise Trip</dd>`, "Hello Siti Rahma,",
			`src="/admin/mail/preview?locale=en&amp;template=invoice"`, "MAIL_TEMPLATES_DIR is not set",
		} {
			require.Contains(t, page, want)
		}
		require.Contains(t, w.Header().Get("Content-Security-Policy"), "frame-src 'self'")
		require.Contains(t, w.Header().Get("Content-Security-Policy"), "default-src 'none'")

		// Indonesian, with a real booking.
		w = h.do("GET", "/admin/mail?template=eticket&locale=id&booking=trp-mail42", nil, admin)
		require.Equal(t, http.StatusOK, w.Code)
		page = w.Body.String()
		for _, want := range []string{
			`<dd id="mail-subject">E-tiket Anda TRP-MAIL42: Ijen Blue Fire</dd>`, "Halo Ayu,", "Senin, 7 Desember 2026", "Rp900.000",
			`src="/admin/mail/preview?booking=TRP-MAIL42&amp;locale=id&amp;template=eticket"`,
		} {
			require.Contains(t, page, want)
		}

		w = h.do("GET", "/admin/mail/preview?booking=TRP-MAIL42&locale=id&template=eticket", nil, admin)
		require.Equal(t, http.StatusOK, w.Code)
		require.Equal(t, "text/html; charset=utf-8", w.Header().Get("Content-Type"))
		csp := w.Header().Get("Content-Security-Policy")
		require.Contains(t, csp, "sandbox")
		require.Contains(t, csp, "default-src 'none'")
		require.Contains(t, csp, "frame-ancestors 'self'")
		require.NotContains(t, csp, "script-src")
		require.Equal(t, "SAMEORIGIN", w.Header().Get("X-Frame-Options"))
		require.Contains(t, w.Body.String(), `<html lang="id">`)
		require.Contains(t, w.Body.String(), "Selamat berwisata!")
		require.Contains(t, w.Body.String(), `src="data:image/png;base64,`, "the QR code is inline")

		// The test mail, in Indonesian.
		w = h.do("GET", "/admin/mail?template=test&locale=id", nil, admin)
		require.Equal(t, http.StatusOK, w.Code)
		require.Contains(t, w.Body.String(), `<dd id="mail-subject">Uji email Tripin</dd>`)

		// The operators' webhook messages, one per channel.
		w = h.do("GET", "/admin/mail?template=notifications", nil, admin)
		require.Equal(t, http.StatusOK, w.Code)
		require.Contains(t, w.Body.String(), ">Ops notifications</a>")
		require.Contains(t, w.Body.String(), `<pre class="mail-text" id="notify-slack">*Tripin ops* (testing · http://localhost:8080): 4 jobs failed for good`)
		require.Contains(t, w.Body.String(), `<pre class="mail-text" id="notify-discord">**Tripin ops** (testing`)
		require.NotContains(t, w.Body.String(), `<iframe`)
		w = h.do("GET", "/admin/mail/preview?template=notifications", nil, admin)
		require.Equal(t, http.StatusNotFound, w.Code)
		require.Contains(t, w.Body.String(), "no HTML part")

		// Wrong choices are explained on the page.
		for path, tc := range map[string]struct {
			status int
			want   string
		}{
			"/admin/mail?booking=TRP-NOPE":         {http.StatusNotFound, `No booking has the code &#34;TRP-NOPE&#34;`},
			"/admin/mail?template=receipt":         {http.StatusNotFound, `There is no email template &#34;receipt&#34;`},
			"/admin/mail?locale=fr":                {http.StatusBadRequest, `unknown locale &#34;fr&#34;: must be one of en, id`},
			"/admin/mail/preview?booking=TRP-NOPE": {http.StatusNotFound, `No booking has the code &#34;TRP-NOPE&#34;`},
		} {
			w = h.do("GET", path, nil, admin)
			require.Equal(t, tc.status, w.Code, path)
			require.Contains(t, w.Body.String(), tc.want, path)
			require.NotContains(t, w.Body.String(), `id="mail-subject"`, path)
		}
	})
}

// TestMailPreviewOverrides: the page names the override file in use, and
// a broken override shows its file and line instead of a preview.
func TestMailPreviewOverrides(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "invoice.html")
	require.NoError(t, os.WriteFile(file, []byte("<p>{{t \"invoice.heading\"}} {{.Code}}</p>\n"), 0o644))
	h := newHarnessWith(t, store.SQLite, map[string]string{"MAIL_TEMPLATES_DIR": dir})
	admin := h.session(h.admin)

	w := h.do("GET", "/admin/mail?locale=id", nil, admin)
	require.Equal(t, http.StatusOK, w.Code)
	require.Contains(t, w.Body.String(), file+`</span> <span class="badge">override</span>`)
	require.Contains(t, w.Body.String(), "embedded:templates/invoice.txt")
	w = h.do("GET", "/admin/mail/preview?locale=id", nil, admin)
	require.Equal(t, "<p>Faktur untuk pemesanan TRP-SAMPLE</p>\n", w.Body.String())

	// The file is edited into an error: the preview reads it again.
	require.NoError(t, os.WriteFile(file, []byte("<p>\n{{.Code}} {{.Nope}}</p>\n"), 0o644))
	w = h.do("GET", "/admin/mail", nil, admin)
	require.Equal(t, http.StatusOK, w.Code)
	require.Contains(t, w.Body.String(), "The email templates do not load")
	require.Contains(t, w.Body.String(), file+":2:")
	require.Contains(t, w.Body.String(), "can&#39;t evaluate field Nope")
	w = h.do("GET", "/admin/mail/preview", nil, admin)
	require.Equal(t, http.StatusUnprocessableEntity, w.Code)
}
