package payment

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRenderTicketAppName: the e-ticket page is headed with APP_NAME,
// escaped, and with Tripin when none is given.
func TestRenderTicketAppName(t *testing.T) {
	tk := Ticket{Code: "TRP-20261127-JJE4K5", Quantity: 2, TotalAmount: 300000, TourTitle: "Bromo Sunrise",
		PaidAt: time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC), DepartureDate: time.Date(2026, 12, 15, 0, 0, 0, 0, time.UTC)}
	var buf bytes.Buffer
	require.NoError(t, RenderTicket(&buf, tk, nil))
	require.Contains(t, buf.String(), "<title>E-ticket TRP-20261127-JJE4K5 — Tripin</title>")
	require.Contains(t, buf.String(), "<h1>Tripin e-ticket</h1>")

	tk.AppName = "Bali & Beyond"
	buf.Reset()
	require.NoError(t, RenderTicket(&buf, tk, nil))
	require.Contains(t, buf.String(), "<title>E-ticket TRP-20261127-JJE4K5 — Bali &amp; Beyond</title>")
	require.Contains(t, buf.String(), "<h1>Bali &amp; Beyond e-ticket</h1>")
	require.NotContains(t, buf.String(), "Tripin")
}
