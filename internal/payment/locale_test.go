package payment

import (
	"bytes"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/store"
)

// TestRenderTicketIndonesian: with locale id the e-ticket page is in
// Indonesian, with the departure as "Senin, 7 Desember 2026" and the
// payment time in WIB.
func TestRenderTicketIndonesian(t *testing.T) {
	jakarta, err := time.LoadLocation("Asia/Jakarta")
	require.NoError(t, err)
	tk := Ticket{Code: "TRP-20261127-JJE4K5", Quantity: 2, TotalAmount: 300000, TourTitle: "Bromo Sunrise", Locale: "id",
		PaidAt: time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC), DepartureDate: time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)}
	var buf bytes.Buffer
	require.NoError(t, RenderTicket(&buf, tk, jakarta))
	page := buf.String()
	for _, want := range []string{
		`<html lang="id">`, "<title>E-tiket TRP-20261127-JJE4K5 — Tripin</title>", "<h1>E-tiket Tripin</h1>",
		"<dt>Keberangkatan</dt><dd>Senin, 7 Desember 2026</dd>",
		"<dt>Waktu pembayaran</dt><dd>Jumat, 27 November 2026 pukul 13.00 WIB</dd>",
		">Cetak</button>",
	} {
		require.Contains(t, page, want)
	}
	require.NotContains(t, page, "Departure")

	tk.Locale = ""
	buf.Reset()
	require.NoError(t, RenderTicket(&buf, tk, jakarta))
	require.Contains(t, buf.String(), "<dt>Departure</dt><dd>Monday, 7 December 2026</dd>")
	require.Contains(t, buf.String(), "<dd>Fri, 27 Nov 2026 13:00 WIB</dd>")

	tk.Locale = "fr"
	require.ErrorContains(t, RenderTicket(&buf, tk, jakarta), `unknown locale "fr"`)
}

// TestPagesInIndonesian: APP_LOCALE=id serves the e-ticket and the
// simulator pages in Indonesian, under the same Content-Security-Policy.
func TestPagesInIndonesian(t *testing.T) {
	t.Parallel()
	f := newFixture(t, store.SQLite, withEnv("PAYMENT_SIMULATOR", "true"), withEnv("APP_LOCALE", "id"))
	srv := testServer(t, f)
	user := f.user(t)
	id, _ := f.booking(t, f.tour(t, 10), user, 2, booking.StatusPaid, false)
	a := call(t, "GET", srv.URL+"/api/bookings/"+strconv.FormatInt(id, 10)+"/ticket", strconv.FormatInt(user, 10), "")
	require.Equal(t, 200, a.Status, a.Body)
	require.Contains(t, a.Body, "<dt>Total dibayar</dt><dd>Rp300.000</dd>")
	require.Contains(t, a.Body, " WIB</dd>")

	_, code := f.booking(t, f.tour(t, 10), user, 1, booking.StatusPending, false)
	link, err := url.Parse(f.svc.SimulatorURL(code, time.Now().Add(30*time.Minute)))
	require.NoError(t, err)
	a = call(t, "GET", srv.URL+link.RequestURI(), "", "")
	require.Equal(t, 200, a.Status, a.Body)
	require.Contains(t, a.Body, "<h1>Simulator pembayaran Midtrans</h1>")
	require.Contains(t, a.Body, `value="settlement">Bayar (settlement)</button>`)
	res, err := http.Get(srv.URL + link.RequestURI())
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, simulatorPolicy, res.Header.Get("Content-Security-Policy"), "the page's inline style is still allowed by its hash")
}
