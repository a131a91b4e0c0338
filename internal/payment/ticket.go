package payment

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"html/template"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/tripintravel/tripin/internal/apperr"
	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/mail"
)

// Ticket is what the e-ticket page shows.
type Ticket struct {
	BookingID     int64
	Code          string
	Quantity      int64
	TotalAmount   int64
	PaidAt        time.Time
	TourTitle     string
	Destination   string
	DepartureDate time.Time
	CustomerName  string
	CustomerEmail string
	// QRCodePNG is a PNG of the QR code that encodes Code.
	QRCodePNG []byte
}

// Ticket returns the e-ticket of a paid booking. Only the booking's owner or
// an admin may see it (anyone else gets ENOTFOUND, so booking ids cannot be
// probed); a booking that is not paid answers ECONFLICT.
func (s *Service) Ticket(ctx context.Context, bookingID, userID int64, isAdmin bool) (Ticket, error) {
	d, err := s.db.BookingMailData(ctx, nil, bookingID)
	if apperr.IsNotFound(err) || (err == nil && d.UserID != userID && !isAdmin) {
		return Ticket{}, apperr.Errorf(apperr.ENOTFOUND, "Booking not found.")
	}
	if err != nil {
		return Ticket{}, fmt.Errorf("payment: ticket: %w", err)
	}
	if d.Status != string(booking.StatusPaid) {
		return Ticket{}, apperr.Errorf(apperr.ECONFLICT, "The e-ticket is available once the booking is paid.")
	}
	t := Ticket{BookingID: d.BookingID, Code: d.Code, Quantity: int64(d.Quantity), TotalAmount: d.TotalAmount,
		TourTitle: d.TourTitle, Destination: d.TourDestination, DepartureDate: d.DepartureDate,
		CustomerName: d.CustomerName, CustomerEmail: d.CustomerEmail}
	if d.PaidAt.Valid {
		t.PaidAt = d.PaidAt.Time
	}
	t.QRCodePNG, err = mail.QRCodePNG(t.Code)
	if err != nil {
		return Ticket{}, fmt.Errorf("payment: ticket QR code: %w", err)
	}
	return t, nil
}

var ticketTemplate = template.Must(template.New("ticket").Parse(`<!doctype html>
<html lang="id">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>E-ticket {{.Code}} — Tripin</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f3f4f6;color:#111827}
.ticket{max-width:640px;margin:2rem auto;background:#fff;border:1px solid #d1d5db;border-radius:12px;padding:2rem}
h1{margin:0 0 .25rem;font-size:1.5rem}.muted{color:#6b7280}
.row{display:flex;gap:2rem;align-items:flex-start;flex-wrap:wrap}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.4rem 1rem;margin:1.5rem 0}
dt{color:#6b7280}dd{margin:0;font-weight:600}
.code{font-family:ui-monospace,monospace;font-size:1.25rem;letter-spacing:.05em}
img{width:200px;height:200px;image-rendering:pixelated}
button{padding:.5rem 1rem;border-radius:6px;border:1px solid #9ca3af;background:#fff;cursor:pointer}
@media print{body{background:#fff}.ticket{border:none;margin:0}.noprint{display:none}}
</style>
</head>
<body>
<main class="ticket">
<h1>Tripin e-ticket</h1>
<p class="muted">Show this page or its QR code when you board.</p>
<div class="row">
<dl>
<dt>Booking code</dt><dd class="code">{{.Code}}</dd>
<dt>Tour</dt><dd>{{.TourTitle}}</dd>
<dt>Destination</dt><dd>{{.Destination}}</dd>
<dt>Departure</dt><dd>{{.Departure}}</dd>
<dt>Travellers</dt><dd>{{.Quantity}}</dd>
<dt>Name</dt><dd>{{.CustomerName}}</dd>
<dt>Total paid</dt><dd>{{.Total}}</dd>
<dt>Paid at</dt><dd>{{.PaidAt}}</dd>
</dl>
<img src="{{.QR}}" alt="QR code of booking {{.Code}}">
</div>
<p class="noprint"><button onclick="window.print()">Print</button></p>
</main>
</body>
</html>
`))

// RenderTicket writes the printable HTML e-ticket, with times in loc.
func RenderTicket(w io.Writer, t Ticket, loc *time.Location) error {
	if loc == nil {
		loc = time.UTC
	}
	paid := t.PaidAt.In(loc).Format("2 Jan 2006 15:04 MST")
	data := map[string]any{
		"Code": t.Code, "TourTitle": t.TourTitle, "Destination": t.Destination,
		"Departure": t.DepartureDate.Format("Monday, 2 January 2006"), "Quantity": t.Quantity,
		"CustomerName": t.CustomerName, "Total": mail.FormatRupiah(t.TotalAmount), "PaidAt": paid,
		// The PNG is ours, so the data URL is safe to mark as such.
		"QR": template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(t.QRCodePNG)),
	}
	if err := ticketTemplate.Execute(w, data); err != nil {
		return fmt.Errorf("payment: render ticket: %w", err)
	}
	return nil
}

// ticketSigKey derives the key of e-ticket links from the server key, so
// that a link's signature says nothing about the key Midtrans uses.
func (s *Service) ticketSigKey() []byte {
	k := sha256.Sum256([]byte("tripin e-ticket link\x00" + s.serverKey))
	return k[:]
}

func (s *Service) ticketMAC(bookingID int64) []byte {
	m := hmac.New(sha256.New, s.ticketSigKey())
	m.Write([]byte("ticket:" + strconv.FormatInt(bookingID, 10)))
	return m.Sum(nil)
}

// TicketURL returns a link to a booking's e-ticket page that opens without
// logging in, for the e-ticket email (mail.Booking.TicketURL): the link
// carries an HMAC of the booking id. Changing MIDTRANS_SERVER_KEY, from
// which the HMAC key is derived, invalidates old links; the logged-in route
// keeps working.
func (s *Service) TicketURL(bookingID int64) string {
	return strings.TrimRight(s.cfg.AppURL, "/") + "/api/bookings/" + strconv.FormatInt(bookingID, 10) +
		"/ticket?signature=" + hex.EncodeToString(s.ticketMAC(bookingID))
}

// ValidTicketSignature reports, in constant time, whether sig is the
// signature TicketURL puts in a link to bookingID's e-ticket.
func (s *Service) ValidTicketSignature(bookingID int64, sig string) bool {
	got, err := hex.DecodeString(sig)
	return err == nil && hmac.Equal(got, s.ticketMAC(bookingID))
}
