package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/money"
	"github.com/tripintravel/tripin/internal/qr"
)

// embeddedTemplates are the default templates. A folder named by
// MAIL_TEMPLATES_DIR may override any of them file by file: *.txt files are
// text/template, *.html files html/template, and a file's {{define}}s
// replace the embedded ones of the same name.
//
//go:embed templates
var embeddedTemplates embed.FS

// The kinds of booking email, as recorded in sent_emails.
const (
	KindInvoice = "invoice"
	KindETicket = "eticket"
)

// qrContentID is the Content-ID of the e-ticket's QR code image.
const qrContentID = "qr-code@tripin"

// TemplateData is what the templates see. The formatted fields are ready
// to print; Booking holds the raw values for templates that want their own
// formatting with the rupiah, datetime and date functions.
type TemplateData struct {
	AppName string
	AppURL  string

	Code          string
	CustomerName  string
	CustomerEmail string

	TourTitle       string
	TourDestination string
	Departure       string // "Tue, 15 Dec 2026"

	Quantity  int
	UnitPrice string // "Rp1.500.000"
	Total     string

	CreatedAt       string // "Wed, 2 Dec 2026 14:30 WIB"
	PaymentDeadline string
	PaidAt          string

	PaymentURL string
	TicketURL  string
	// QRCodeSrc is the e-ticket's inline QR image ("cid:…"), empty in the
	// invoice.
	QRCodeSrc htmltemplate.URL

	Booking *BookingMail
}

// RendererParams configures a Renderer.
type RendererParams struct {
	// Dir, when not empty, is a folder whose templates override the
	// embedded ones (MAIL_TEMPLATES_DIR).
	Dir string
	// AppName appears in the emails: APP_NAME when it is set, else
	// MAIL_FROM_NAME (Config.MailAppName).
	AppName string
	// AppURL is the base of the payment and ticket links (APP_URL).
	AppURL string
	// Location is the zone of every printed time (APP_TIMEZONE, WIB).
	Location *time.Location
}

// RendererParamsFrom reads the relevant keys of cfg.
func RendererParamsFrom(cfg *config.Config) RendererParams {
	return RendererParams{
		Dir: cfg.MailTemplatesDir, AppName: cfg.MailAppName(),
		AppURL: cfg.AppURL, Location: cfg.AppTimezone,
	}
}

// Renderer renders the booking emails. Templates are parsed once, by
// NewRenderer, so a broken override stops the process at start.
type Renderer struct {
	p    RendererParams
	text *texttemplate.Template
	html *htmltemplate.Template
}

// NewRenderer parses the embedded templates and the overrides in p.Dir.
func NewRenderer(p RendererParams) (*Renderer, error) {
	if p.Location == nil {
		loc, err := time.LoadLocation("Asia/Jakarta")
		if err != nil {
			return nil, fmt.Errorf("mail: templates: %w", err)
		}
		p.Location = loc
	}
	if p.AppName == "" {
		p.AppName = config.DefaultMailFromName
	}
	p.AppURL = strings.TrimRight(p.AppURL, "/")
	funcs := map[string]any{
		"rupiah":   money.FormatRupiah,
		"datetime": func(t time.Time) string { return FormatTime(t, p.Location) },
		"date":     FormatDate,
	}
	r := &Renderer{
		p:    p,
		text: texttemplate.New("").Funcs(funcs),
		html: htmltemplate.New("").Funcs(htmltemplate.FuncMap(funcs)),
	}
	sub, err := fs.Sub(embeddedTemplates, "templates")
	if err != nil {
		return nil, fmt.Errorf("mail: templates: %w", err)
	}
	if err := r.parse(sub, "embedded"); err != nil {
		return nil, err
	}
	if p.Dir != "" {
		st, err := os.Stat(p.Dir)
		if err != nil {
			return nil, fmt.Errorf("mail: MAIL_TEMPLATES_DIR: %w", err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("mail: MAIL_TEMPLATES_DIR: %s is not a folder", p.Dir)
		}
		if err := r.parse(os.DirFS(p.Dir), p.Dir); err != nil {
			return nil, err
		}
	}
	for _, name := range []string{"invoice.subject", "invoice.txt", "eticket.subject", "eticket.txt"} {
		if r.text.Lookup(name) == nil {
			return nil, fmt.Errorf("mail: templates: %s is missing", name)
		}
	}
	for _, name := range []string{"invoice.html", "eticket.html"} {
		if r.html.Lookup(name) == nil {
			return nil, fmt.Errorf("mail: templates: %s is missing", name)
		}
	}
	return r, nil
}

// parse adds the *.txt and *.html files of fsys, each as a template named
// after its file, replacing templates of the same names.
func (r *Renderer) parse(fsys fs.FS, origin string) error {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return fmt.Errorf("mail: templates in %s: %w", origin, err)
	}
	for _, e := range entries {
		name := e.Name()
		ext := path.Ext(name)
		if e.IsDir() || (ext != ".txt" && ext != ".html") {
			continue
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return fmt.Errorf("mail: templates in %s: %w", origin, err)
		}
		if ext == ".txt" {
			_, err = r.text.New(name).Parse(string(b))
		} else {
			_, err = r.html.New(name).Parse(string(b))
		}
		if err != nil {
			return fmt.Errorf("mail: templates in %s: %w", origin, err)
		}
	}
	return nil
}

// Invoice renders the invoice for b: subject, text and HTML parts.
func (r *Renderer) Invoice(b *BookingMail) (*Message, error) {
	return r.render(KindInvoice, b, r.data(b))
}

// ETicket renders the e-ticket for b, with the QR code of the booking code
// as an inline PNG image.
func (r *Renderer) ETicket(b *BookingMail) (*Message, error) {
	png, err := qr.PNG(b.Code)
	if err != nil {
		return nil, err
	}
	d := r.data(b)
	d.QRCodeSrc = htmltemplate.URL("cid:" + qrContentID)
	m, err := r.render(KindETicket, b, d)
	if err != nil {
		return nil, err
	}
	m.Inline = append(m.Inline, Inline{
		ContentID: qrContentID, Filename: "ticket-" + b.Code + ".png", ContentType: "image/png", Data: png,
	})
	return m, nil
}

// Render renders the email of kind (KindInvoice or KindETicket) for b.
func (r *Renderer) Render(kind string, b *BookingMail) (*Message, error) {
	switch kind {
	case KindInvoice:
		return r.Invoice(b)
	case KindETicket:
		return r.ETicket(b)
	}
	return nil, fmt.Errorf("mail: render: unknown email kind %q", kind)
}

func (r *Renderer) render(kind string, b *BookingMail, d *TemplateData) (*Message, error) {
	if b.CustomerEmail == "" {
		return nil, errors.New("mail: render: the booking has no customer email")
	}
	var subject, text, html bytes.Buffer
	if err := r.text.ExecuteTemplate(&subject, kind+".subject", d); err != nil {
		return nil, fmt.Errorf("mail: render %s subject: %w", kind, err)
	}
	if err := r.text.ExecuteTemplate(&text, kind+".txt", d); err != nil {
		return nil, fmt.Errorf("mail: render %s text: %w", kind, err)
	}
	if err := r.html.ExecuteTemplate(&html, kind+".html", d); err != nil {
		return nil, fmt.Errorf("mail: render %s html: %w", kind, err)
	}
	return &Message{
		To:      Address{Name: b.CustomerName, Email: b.CustomerEmail},
		Subject: strings.Join(strings.Fields(subject.String()), " "),
		Text:    text.String(),
		HTML:    html.String(),
	}, nil
}

func (r *Renderer) data(b *BookingMail) *TemplateData {
	id := strconv.FormatInt(b.BookingID, 10)
	pay := b.PaymentURL
	if pay == "" {
		pay = r.p.AppURL + "/bookings/" + url.PathEscape(id) + "/pay"
	}
	ticket := b.TicketURL
	if ticket == "" {
		ticket = r.p.AppURL + "/api/bookings/" + url.PathEscape(id) + "/ticket"
	}
	return &TemplateData{
		AppName:         r.p.AppName,
		AppURL:          r.p.AppURL,
		Code:            b.Code,
		CustomerName:    b.CustomerName,
		CustomerEmail:   b.CustomerEmail,
		TourTitle:       b.TourTitle,
		TourDestination: b.TourDestination,
		Departure:       FormatDate(b.DepartureDate),
		Quantity:        b.Quantity,
		UnitPrice:       money.FormatRupiah(b.UnitPrice),
		Total:           money.FormatRupiah(b.TotalAmount),
		CreatedAt:       FormatTime(b.CreatedAt, r.p.Location),
		PaymentDeadline: FormatTime(b.ExpiresAt, r.p.Location),
		PaidAt:          FormatTime(b.PaidAt, r.p.Location),
		PaymentURL:      pay,
		TicketURL:       ticket,
		Booking:         b,
	}
}
