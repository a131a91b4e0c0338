package mail

import (
	"bytes"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	texttemplate "text/template"
	"text/template/parse"
	"time"
	"unicode/utf8"

	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/i18n"
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
	// Locale is the language of the emails (APP_LOCALE): en when empty.
	Locale string
}

// RendererParamsFrom reads the relevant keys of cfg.
func RendererParamsFrom(cfg *config.Config) RendererParams {
	return RendererParams{
		Dir: cfg.MailTemplatesDir, AppName: cfg.MailAppName(),
		AppURL: cfg.AppURL, Location: cfg.AppTimezone, Locale: cfg.AppLocale,
	}
}

// Renderer renders the booking emails. Templates are parsed, and tried
// with sample data in every locale, once, by NewRenderer, so a broken
// override stops the process at start with its file and line.
type Renderer struct {
	p RendererParams
	// sets are the parsed templates per locale: the same files, with the
	// translation and date functions of that locale.
	sets map[string]*templateSet
	// sources says where each template comes from, by template name
	// ("invoice.txt", "invoice.subject"); files does by file name.
	sources map[string]TemplateSource
	files   map[string]TemplateSource
}

type templateSet struct {
	locale *i18n.Locale
	text   *texttemplate.Template
	html   *htmltemplate.Template
}

// TemplateSource is the file a template comes from.
type TemplateSource struct {
	// Template is the template's name: a file name such as "invoice.html",
	// or a name defined inside one, such as "invoice.subject".
	Template string
	// File is the file's name; Path is where it is read: the override's
	// path under MAIL_TEMPLATES_DIR, or "embedded:templates/NAME" for the
	// built-in default.
	File string
	Path string
	// Override reports whether Path is an override file.
	Override bool
}

// KindTemplates are the templates one email of kind is made of: its
// subject, its plain text and its HTML.
func KindTemplates(kind string) []string {
	return []string{kind + ".subject", kind + ".txt", kind + ".html"}
}

// NewRenderer parses the embedded templates and the overrides in p.Dir,
// then renders every email with sample data in every locale: an error
// names the template file and line (path/invoice.html:12: ...).
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
	if p.Locale == "" {
		p.Locale = i18n.Default
	}
	if _, err := i18n.Get(p.Locale); err != nil {
		return nil, fmt.Errorf("mail: templates: %w", err)
	}
	p.AppURL = strings.TrimRight(p.AppURL, "/")
	r := &Renderer{p: p, sets: map[string]*templateSet{}, sources: map[string]TemplateSource{}, files: map[string]TemplateSource{}}
	sub, err := fs.Sub(embeddedTemplates, "templates")
	if err != nil {
		return nil, fmt.Errorf("mail: templates: %w", err)
	}
	var overrides fs.FS
	if p.Dir != "" {
		st, err := os.Stat(p.Dir)
		if err != nil {
			return nil, fmt.Errorf("mail: MAIL_TEMPLATES_DIR: %w", err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("mail: MAIL_TEMPLATES_DIR: %s is not a folder", p.Dir)
		}
		overrides = os.DirFS(p.Dir)
	}
	for _, tag := range i18n.Tags() {
		set := r.newSet(i18n.MustGet(tag))
		if err := r.parse(set, sub, ""); err != nil {
			return nil, err
		}
		if overrides != nil {
			if err := r.parse(set, overrides, p.Dir); err != nil {
				return nil, err
			}
		}
		for _, kind := range []string{KindInvoice, KindETicket} {
			for _, name := range KindTemplates(kind) {
				missing := set.text.Lookup(name) == nil
				if path.Ext(name) == ".html" {
					missing = set.html.Lookup(name) == nil
				}
				if missing {
					return nil, fmt.Errorf("mail: templates: %s is missing", name)
				}
			}
		}
		r.sets[tag] = set
	}
	// Try every email in every locale now, with sample data, so that an
	// override that parses but cannot run (an unknown field, message or
	// function argument) fails here and not when a customer's email is
	// sent.
	for _, tag := range i18n.Tags() {
		for _, paid := range []bool{false, true} {
			b := SampleBooking(time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC), paid)
			kind := KindInvoice
			if paid {
				kind = KindETicket
			}
			if _, err := r.RenderIn(tag, kind, b); err != nil {
				return nil, fmt.Errorf("mail: templates do not render (locale %s, sample booking): %w", tag, err)
			}
		}
	}
	return r, nil
}

func (r *Renderer) newSet(l *i18n.Locale) *templateSet {
	loc := r.p.Location
	funcs := map[string]any{
		"rupiah":   money.FormatRupiah,
		"datetime": func(t time.Time) string { return l.DateTime(t, loc) },
		"date":     l.Date,
		"t":        l.Translate,
		// label is a translated label and its colon, padded to line up
		// the values of the plain-text emails.
		"label": func(key string) (string, error) {
			s, err := l.Translate(key)
			if err != nil {
				return "", err
			}
			s += ":"
			return s + strings.Repeat(" ", max(1, labelWidth-utf8.RuneCountInString(s))), nil
		},
		"locale": l.Tag,
	}
	return &templateSet{
		locale: l,
		text:   texttemplate.New("").Funcs(funcs),
		html:   htmltemplate.New("").Funcs(htmltemplate.FuncMap(funcs)),
	}
}

// labelWidth is the column the plain-text emails' values start at.
const labelWidth = 18

// parse adds the *.txt and *.html files of fsys to set, each as a
// template named after its file, replacing templates of the same names.
// dir is the override folder, or "" for the embedded templates.
func (r *Renderer) parse(set *templateSet, fsys fs.FS, dir string) error {
	origin := dir
	if origin == "" {
		origin = "embedded templates"
	}
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
		src := TemplateSource{File: name, Path: "embedded:templates/" + name}
		if dir != "" {
			src.Path, src.Override = filepath.Join(dir, name), true
		}
		r.files[name] = src
		if ext == ".txt" {
			_, err = set.text.New(name).Parse(string(b))
		} else {
			_, err = set.html.New(name).Parse(string(b))
		}
		if err != nil {
			return fmt.Errorf("mail: templates: %w", r.locate(err))
		}
		// The templates the file defines come from it from now on.
		tree := parse.New(name)
		tree.Mode = parse.SkipFuncCheck
		trees := map[string]*parse.Tree{}
		if _, err := tree.Parse(string(b), "", "", trees); err == nil {
			for tname, t := range trees {
				if tname != name || !parse.IsEmptyTree(t.Root) {
					s := src
					s.Template = tname
					r.sources[tname] = s
				}
			}
		}
	}
	return nil
}

// Locale is the language the emails are sent in (APP_LOCALE).
func (r *Renderer) Locale() string { return r.p.Locale }

// Invoice renders the invoice for b: subject, text and HTML parts.
func (r *Renderer) Invoice(b *BookingMail) (*Message, error) {
	return r.RenderIn(r.p.Locale, KindInvoice, b)
}

// ETicket renders the e-ticket for b, with the QR code of the booking code
// as an inline PNG image.
func (r *Renderer) ETicket(b *BookingMail) (*Message, error) {
	return r.RenderIn(r.p.Locale, KindETicket, b)
}

// Render renders the email of kind (KindInvoice or KindETicket) for b.
func (r *Renderer) Render(kind string, b *BookingMail) (*Message, error) {
	return r.RenderIn(r.p.Locale, kind, b)
}

// RenderIn renders the email of kind for b in locale, whatever
// APP_LOCALE says: the dashboard's previews use it.
func (r *Renderer) RenderIn(locale, kind string, b *BookingMail) (*Message, error) {
	set, ok := r.sets[locale]
	if !ok {
		_, err := i18n.Get(locale)
		return nil, fmt.Errorf("mail: render: %w", err)
	}
	switch kind {
	case KindInvoice:
		return r.render(set, KindInvoice, b, r.data(set.locale, b))
	case KindETicket:
		png, err := qr.PNG(b.Code)
		if err != nil {
			return nil, err
		}
		d := r.data(set.locale, b)
		d.QRCodeSrc = htmltemplate.URL("cid:" + qrContentID)
		m, err := r.render(set, KindETicket, b, d)
		if err != nil {
			return nil, err
		}
		m.Inline = append(m.Inline, Inline{
			ContentID: qrContentID, Filename: "ticket-" + b.Code + ".png", ContentType: "image/png", Data: png,
		})
		return m, nil
	}
	return nil, fmt.Errorf("mail: render: unknown email kind %q", kind)
}

// Sources tells where each template of the email of kind comes from: its
// subject, text and HTML, in that order.
func (r *Renderer) Sources(kind string) []TemplateSource {
	var out []TemplateSource
	for _, name := range KindTemplates(kind) {
		s, ok := r.sources[name]
		if !ok {
			s = TemplateSource{Template: name, Path: "?"}
		}
		out = append(out, s)
	}
	return out
}

// templateRef finds the file and line of a template error: text/template
// writes "template: NAME:LINE:...", html/template "html/template:NAME:LINE:...".
var templateRef = regexp.MustCompile(`(?:html/)?template: ?([^:\s]+):(\d+)`)

// locate rewrites a template error to name the file it comes from, by
// path, with the line: "/etc/tripin/mail/invoice.html:12: ...".
func (r *Renderer) locate(err error) error {
	msg := err.Error()
	m := templateRef.FindStringSubmatchIndex(msg)
	if m == nil {
		return err
	}
	name, line := msg[m[2]:m[3]], msg[m[4]:m[5]]
	file := name
	if s, ok := r.files[name]; ok {
		file = s.Path
	} else if s, ok := r.sources[name]; ok {
		file = s.Path
	}
	return &TemplateError{File: file, Line: line, Err: errors.New(strings.TrimLeft(msg[m[5]:], ": ")), msg: file + ":" + line + msg[m[5]:]}
}

// TemplateError is an email template that does not parse or render.
type TemplateError struct {
	// File is the template file's path (or embedded:templates/NAME) and
	// Line the line in it.
	File, Line string
	Err        error
	msg        string
}

func (e *TemplateError) Error() string { return e.msg }
func (e *TemplateError) Unwrap() error { return e.Err }

func (r *Renderer) render(set *templateSet, kind string, b *BookingMail, d *TemplateData) (*Message, error) {
	if b.CustomerEmail == "" {
		return nil, errors.New("mail: render: the booking has no customer email")
	}
	var subject, text, html bytes.Buffer
	if err := set.text.ExecuteTemplate(&subject, kind+".subject", d); err != nil {
		return nil, fmt.Errorf("mail: render %s subject: %w", kind, r.locate(err))
	}
	if err := set.text.ExecuteTemplate(&text, kind+".txt", d); err != nil {
		return nil, fmt.Errorf("mail: render %s text: %w", kind, r.locate(err))
	}
	if err := set.html.ExecuteTemplate(&html, kind+".html", d); err != nil {
		return nil, fmt.Errorf("mail: render %s html: %w", kind, r.locate(err))
	}
	return &Message{
		To:      Address{Name: b.CustomerName, Email: b.CustomerEmail},
		Subject: strings.Join(strings.Fields(subject.String()), " "),
		Text:    text.String(),
		HTML:    html.String(),
	}, nil
}

func (r *Renderer) data(l *i18n.Locale, b *BookingMail) *TemplateData {
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
		Departure:       l.Date(b.DepartureDate),
		Quantity:        b.Quantity,
		UnitPrice:       money.FormatRupiah(b.UnitPrice),
		Total:           money.FormatRupiah(b.TotalAmount),
		CreatedAt:       l.DateTime(b.CreatedAt, r.p.Location),
		PaymentDeadline: l.DateTime(b.ExpiresAt, r.p.Location),
		PaidAt:          l.DateTime(b.PaidAt, r.p.Location),
		PaymentURL:      pay,
		TicketURL:       ticket,
		Booking:         b,
	}
}

// SampleBooking is the booking the templates are tried with at start and
// previewed with on the dashboard: three seats on a tour that departs two
// weeks after now, booked at now and, when paid, paid ten minutes later.
func SampleBooking(now time.Time, paid bool) *BookingMail {
	now = now.Truncate(time.Minute)
	y, m, d := now.AddDate(0, 0, 14).Date()
	b := &BookingMail{
		BookingID: 1, Code: "TRP-SAMPLE", Status: "pending",
		CustomerName: "Siti Rahma", CustomerEmail: "siti@example.com",
		TourTitle: "Bromo Sunrise Trip", TourDestination: "Bromo, East Java",
		DepartureDate: time.Date(y, m, d, 0, 0, 0, 0, time.UTC),
		Quantity:      3, UnitPrice: 500000, TotalAmount: 1500000,
		CreatedAt: now, ExpiresAt: now.Add(30 * time.Minute),
	}
	if paid {
		b.Status, b.PaidAt = "paid", now.Add(10*time.Minute)
	}
	return b
}

// PreviewHTML is m's HTML part with its inline images ("cid:" links, the
// e-ticket's QR code) as data URLs, so a browser shows it as a mail
// program would.
func PreviewHTML(m *Message) string {
	html := m.HTML
	for _, in := range m.Inline {
		html = strings.ReplaceAll(html, "cid:"+in.ContentID,
			"data:"+in.ContentType+";base64,"+base64.StdEncoding.EncodeToString(in.Data))
	}
	return html
}
