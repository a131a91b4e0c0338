package payment

import (
	"context"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tripintravel/tripin/internal/apperr"
	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/i18n"
	"github.com/tripintravel/tripin/internal/money"
	"github.com/tripintravel/tripin/internal/qr"
	"github.com/tripintravel/tripin/internal/secheaders"
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
	// AppName (APP_NAME) heads the page; empty means Tripin.
	AppName string
	// Locale is the page's language (APP_LOCALE); empty means en.
	Locale string
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
		CustomerName: d.CustomerName, CustomerEmail: d.CustomerEmail, AppName: s.cfg.Name(), Locale: s.cfg.AppLocale}
	if d.PaidAt.Valid {
		t.PaidAt = d.PaidAt.Time
	}
	t.QRCodePNG, err = qr.PNG(t.Code)
	if err != nil {
		return Ticket{}, fmt.Errorf("payment: ticket QR code: %w", err)
	}
	return t, nil
}

// ticketPage is the e-ticket page's template. Its inline style and script
// are static, so that the page's Content-Security-Policy allows them by
// hash (ticketPolicy) and nothing else.
const ticketPage = `<!doctype html>
<html lang="{{.Lang}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{t "ticket.title" "code" .Code "app" .AppName}}</title>
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
<h1>{{t "ticket.heading" "app" .AppName}}</h1>
<p class="muted">{{t "ticket.show"}}</p>
<div class="row">
<dl>
<dt>{{t "mail.label.code"}}</dt><dd class="code">{{.Code}}</dd>
<dt>{{t "mail.label.tour"}}</dt><dd>{{.TourTitle}}</dd>
<dt>{{t "mail.label.destination"}}</dt><dd>{{.Destination}}</dd>
<dt>{{t "mail.label.departure"}}</dt><dd>{{.Departure}}</dd>
<dt>{{t "mail.label.travellers"}}</dt><dd>{{.Quantity}}</dd>
<dt>{{t "ticket.name"}}</dt><dd>{{.CustomerName}}</dd>
<dt>{{t "ticket.total_paid"}}</dt><dd>{{.Total}}</dd>
<dt>{{t "mail.label.paid_at"}}</dt><dd>{{.PaidAt}}</dd>
</dl>
<img src="{{.QR}}" alt="{{t "ticket.qr_alt" "code" .Code}}">
</div>
<p class="noprint"><button id="print" type="button">{{t "ticket.print"}}</button></p>
</main>
<script>document.getElementById("print").addEventListener("click",function(){window.print()})</script>
</body>
</html>
`

var (
	ticketTemplates = localizedTemplates("ticket", ticketPage)
	ticketPolicy    = secheaders.PagePolicy(ticketPage)
)

// RenderTicket writes the printable HTML e-ticket, with times in loc.
func RenderTicket(w io.Writer, t Ticket, loc *time.Location) error {
	if loc == nil {
		loc = time.UTC
	}
	tmpl, l, err := localized(ticketTemplates, t.Locale)
	if err != nil {
		return fmt.Errorf("payment: render ticket: %w", err)
	}
	name := t.AppName
	if name == "" {
		name = config.DefaultAppName
	}
	data := map[string]any{
		"AppName": name, "Code": t.Code, "TourTitle": t.TourTitle, "Destination": t.Destination,
		"Departure": l.LongDate(t.DepartureDate), "Quantity": t.Quantity,
		"CustomerName": t.CustomerName, "Total": money.FormatRupiah(t.TotalAmount), "PaidAt": l.DateTime(t.PaidAt, loc), "Lang": l.Tag(),
		// The PNG is ours, so the data URL is safe to mark as such.
		"QR": template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(t.QRCodePNG)),
	}
	if err := tmpl.Execute(w, data); err != nil {
		return fmt.Errorf("payment: render ticket: %w", err)
	}
	return nil
}

// ticketPurpose names the e-ticket links to the signer.
const ticketPurpose = "e-ticket"

// TicketLinkExpiry is when a link to the e-ticket of a tour departing on
// departure stops opening: the midnight that ends the departure day in
// APP_TIMEZONE. The logged-in route keeps working after it.
func TicketLinkExpiry(departure time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	// The departure is a calendar date: its year, month and day are the
	// date, whatever zone it was scanned in.
	y, m, d := departure.Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, loc)
}

// TicketURL returns a link to a booking's e-ticket page that opens without
// logging in, for the e-ticket email (mail.Booking.TicketURL): the link
// carries its expiry (TicketLinkExpiry of the tour's departure) and a
// signature under APP_KEY of the booking id and that expiry. Changing
// APP_KEY invalidates every link; the logged-in route keeps working.
func (s *Service) TicketURL(bookingID int64, departure time.Time) string {
	expires := TicketLinkExpiry(departure, s.cfg.AppTimezone)
	id := strconv.FormatInt(bookingID, 10)
	q := url.Values{
		"expires":   {strconv.FormatInt(expires.Unix(), 10)},
		"signature": {s.links.Sign(ticketPurpose, id, expires)},
	}
	return strings.TrimRight(s.cfg.AppURL, "/") + "/api/bookings/" + id + "/ticket?" + q.Encode()
}

// CheckTicketLink checks the expires and signature parameters of a link
// to bookingID's e-ticket, in constant time: ENOTFOUND when they are
// missing or forged (as for a booking that does not exist), EFORBIDDEN when
// the link has expired.
func (s *Service) CheckTicketLink(bookingID int64, q url.Values) error {
	secs, err := strconv.ParseInt(q.Get("expires"), 10, 64)
	expires := time.Unix(secs, 0)
	if err != nil || secs <= 0 || !s.links.Verify(ticketPurpose, strconv.FormatInt(bookingID, 10), expires, q.Get("signature")) {
		return apperr.Errorf(apperr.ENOTFOUND, "Booking not found.")
	}
	if !s.now().Before(expires) {
		return apperr.Errorf(apperr.EFORBIDDEN, "This e-ticket link has expired: the tour has departed. Log in to see your booking.")
	}
	return nil
}

// localizedTemplates parses a page once per locale, with that locale's
// "t" function (i18n.Locale.Translate).
func localizedTemplates(name, page string) map[string]*template.Template {
	out := map[string]*template.Template{}
	for _, tag := range i18n.Tags() {
		l := i18n.MustGet(tag)
		out[tag] = template.Must(template.New(name).Funcs(template.FuncMap{"t": l.Translate}).Parse(page))
	}
	return out
}

// localized picks the page of locale (en when empty).
func localized(pages map[string]*template.Template, locale string) (*template.Template, *i18n.Locale, error) {
	if locale == "" {
		locale = i18n.Default
	}
	l, err := i18n.Get(locale)
	if err != nil {
		return nil, nil, err
	}
	return pages[locale], l, nil
}
