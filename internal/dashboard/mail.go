package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/tripintravel/tripin/internal/apperr"
	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/i18n"
	"github.com/tripintravel/tripin/internal/mail"
	"github.com/tripintravel/tripin/internal/notify"
	"github.com/tripintravel/tripin/internal/secheaders"
)

// The mail previews: /admin/mail lists every email the application sends
// and shows one, rendered with sample data or with a real booking chosen
// by code, in either locale, as plain text and as HTML. The HTML is served
// by /admin/mail/preview into a sandboxed frame under its own policy: no
// script, no request anywhere, inline styles and data: images only.
//
// The templates are read from the files on each request, so an operator
// who edits an override under MAIL_TEMPLATES_DIR sees the change (or its
// error, with file and line) at once; the running senders keep the
// templates they loaded at start until the process restarts.

// mailPreviewPolicy is the Content-Security-Policy of the framed HTML
// email: emails style themselves inline, show their QR code as a data:
// image here, and may run nothing.
const mailPreviewPolicy = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; " +
	"frame-ancestors 'self'; base-uri 'none'; form-action 'none'; sandbox"

// mailPagePolicy is the dashboard's policy, which also lets the page
// frame its own preview route.
const mailPagePolicy = secheaders.DashboardPolicy + "; frame-src 'self'"

func (d *Dashboard) mountMail(mux *http.ServeMux) {
	mux.HandleFunc("GET "+Prefix+"/mail", d.page(d.handleMail))
	mux.HandleFunc("GET "+Prefix+"/mail/preview", d.page(d.handleMailPreview))
}

// mailTemplate is one email on the list.
type mailTemplate struct {
	Kind, Title, About string
	// Sources are the files its subject, text and HTML come from; Builtin
	// says where an email that has no template files is made.
	Sources []mail.TemplateSource
	Builtin string
}

var mailKinds = []mailTemplate{
	{Kind: mail.KindInvoice, Title: "Invoice", About: "sent when a booking is made: the amount, the payment deadline and the payment link"},
	{Kind: mail.KindETicket, Title: "E-ticket", About: "sent when a booking is paid, with the QR code of the booking code"},
	{Kind: mail.KindTestMail, Title: "Test mail", About: "sent by `tripin mail:test` to check the mail settings",
		Builtin: "built in (internal/mail/testmail.go), from the locale files; no template to override"},
	{Kind: kindNotifications, Title: "Ops notifications", About: "posted to Slack and Discord (NOTIFY_*_WEBHOOK_URL): jobs failed for good, late payments, long waits, busy queues",
		Builtin: "built in (internal/notify/message.go), in English: operators read them, not customers"},
}

// kindNotifications names the operators' webhook messages on the list.
const kindNotifications = "notifications"

// mailPage is the data of mail.html.
type mailPage struct {
	Templates []mailTemplate
	Current   mailTemplate
	Locales   []mailLocale
	Locale    string
	// Booking is the code asked for; empty previews the sample booking.
	Booking string
	Dir     string
	// Error says why there is no preview: an unknown template, locale or
	// booking, or a template that does not render.
	Error string
	// Note qualifies the preview (an e-ticket of an unpaid booking).
	Note    string
	Message *mail.Message
	// Notifications are the webhook messages, one per channel, when the
	// ops notifications are shown.
	Notifications []notify.PreviewMessage
	// PreviewURL is the framed HTML's address.
	PreviewURL string
}

type mailLocale struct {
	Tag, Name string
	On        bool
}

// mailRequest is a preview request, read from the query.
type mailRequest struct {
	kind, locale, code string
}

func (d *Dashboard) mailRequest(r *http.Request) mailRequest {
	q := r.URL.Query()
	req := mailRequest{kind: q.Get("template"), locale: q.Get("locale"), code: strings.ToUpper(strings.TrimSpace(q.Get("booking")))}
	if req.kind == "" {
		req.kind = mail.KindInvoice
	}
	if req.locale == "" {
		req.locale = i18n.Default
		if d.p.Config != nil && d.p.Config.AppLocale != "" {
			req.locale = d.p.Config.AppLocale
		}
	}
	return req
}

func (req mailRequest) query() string {
	v := url.Values{"template": {req.kind}, "locale": {req.locale}}
	if req.code != "" {
		v.Set("booking", req.code)
	}
	return v.Encode()
}

// mailError is a preview refused for a reason the operator can fix; its
// status is the page's.
type mailError struct {
	status int
	msg    string
}

func (e *mailError) Error() string { return e.msg }

// renderMail renders the email of req. It returns the renderer too (nil
// when the templates did not load), for the list of template files.
func (d *Dashboard) renderMail(ctx context.Context, req mailRequest) (*mail.Renderer, *mail.Message, string, error) {
	params := mail.RendererParams{}
	if d.p.Config != nil {
		params = mail.RendererParamsFrom(d.p.Config)
	}
	rnd, err := mail.NewRenderer(params)
	if err != nil {
		return nil, nil, "", &mailError{http.StatusOK, "The email templates do not load, so the application will not start with them: " + err.Error()}
	}
	if _, err := i18n.Get(req.locale); err != nil {
		return rnd, nil, "", &mailError{http.StatusBadRequest, "No preview in that language: " + err.Error() + "."}
	}
	if req.kind == mail.KindTestMail {
		name, appURL, from := "Tripin", "http://localhost:8080", "Tripin Travel <noreply@tripin.example>"
		if c := d.p.Config; c != nil {
			name, appURL, from = c.Name(), c.AppURL, c.MailFromName+" <"+c.MailFromAddress+">"
		}
		m, err := mail.TestMail(mail.TestMailParams{
			To: mail.Address{Email: "ops@example.com"}, AppName: name, AppURL: appURL, Mailer: "log (preview)", From: from,
			SentAt: d.now(), Location: params.Location, Locale: req.locale,
		})
		return rnd, m, "", err
	}
	if req.kind == kindNotifications {
		return rnd, nil, "", &mailError{http.StatusNotFound, "The ops notifications are plain text posted to webhooks; they have no HTML part."}
	}
	if req.kind != mail.KindInvoice && req.kind != mail.KindETicket {
		return rnd, nil, "", &mailError{http.StatusNotFound, fmt.Sprintf("There is no email template %q. Choose one from the list.", req.kind)}
	}
	b := mail.SampleBooking(d.now(), req.kind == mail.KindETicket)
	var note string
	if req.code != "" {
		if b, err = d.mailBooking(ctx, req.code); err != nil {
			return rnd, nil, "", err
		}
		if req.kind == mail.KindETicket && b.Status != "paid" {
			note = "Booking " + b.Code + " is " + b.Status + ", not paid: it has no e-ticket yet. This is how its e-ticket would look."
		}
	}
	m, err := rnd.RenderIn(req.locale, req.kind, b)
	if err != nil {
		return rnd, nil, "", &mailError{http.StatusOK, "The template does not render: " + err.Error()}
	}
	return rnd, m, note, nil
}

// mailBooking loads the booking with code as the email job would: the
// payment link is its Snap page when it has one, else the default link
// under APP_URL (the preview signs no links).
func (d *Dashboard) mailBooking(ctx context.Context, code string) (*mail.BookingMail, error) {
	if d.p.DB == nil {
		return nil, &mailError{http.StatusNotFound, "The bookings database is not connected to the dashboard, so no booking can be previewed."}
	}
	bk, err := d.p.DB.BookingGetByCode(ctx, code)
	if apperr.IsNotFound(err) {
		return nil, &mailError{http.StatusNotFound, fmt.Sprintf("No booking has the code %q. Check the code, or leave it empty to preview the sample booking.", code)}
	}
	if err != nil {
		return nil, err
	}
	row, err := d.p.DB.BookingMailData(ctx, nil, bk.ID)
	if err != nil {
		return nil, err
	}
	return mail.BookingMailOf(row), nil
}

func (d *Dashboard) handleMail(w http.ResponseWriter, r *http.Request, _ *session) {
	req := d.mailRequest(r)
	p := &mailPage{Locale: req.locale, Booking: req.code}
	if d.p.Config != nil {
		p.Dir = d.p.Config.MailTemplatesDir
	}
	for _, tag := range i18n.Tags() {
		p.Locales = append(p.Locales, mailLocale{Tag: tag, Name: i18n.MustGet(tag).Name(), On: tag == req.locale})
	}
	rnd, m, note, err := d.renderMail(r.Context(), req)
	status := http.StatusOK
	var me *mailError
	switch {
	case req.kind == kindNotifications:
		cfg := d.p.Config
		if cfg == nil {
			cfg, _ = config.FromMap(map[string]string{})
		}
		p.Notifications = notify.Preview(cfg, d.now())
	case err == nil:
		p.Message, p.Note = m, note
		p.PreviewURL = Prefix + "/mail/preview?" + req.query()
	case errors.As(err, &me):
		p.Error, status = me.msg, me.status
	default:
		d.internalError(w, r, err)
		return
	}
	for _, t := range mailKinds {
		if t.Builtin == "" && rnd != nil {
			t.Sources = rnd.Sources(t.Kind)
		}
		p.Templates = append(p.Templates, t)
		if t.Kind == req.kind {
			p.Current = t
		}
	}
	if p.Current.Kind == "" {
		p.Current = mailTemplate{Kind: req.kind, Title: req.kind}
	}
	d.render(framingWriter{w}, r, status, "mail", &view{Title: "Mail", Nav: "mail", Page: p})
}

// handleMailPreview serves the HTML part of an email, alone, for the
// preview page's sandboxed frame.
func (d *Dashboard) handleMailPreview(w http.ResponseWriter, r *http.Request, _ *session) {
	_, m, _, err := d.renderMail(r.Context(), d.mailRequest(r))
	var me *mailError
	if errors.As(err, &me) {
		status := me.status
		if status == http.StatusOK {
			status = http.StatusUnprocessableEntity
		}
		d.fail(w, r, status, "No preview", me.msg)
		return
	}
	if err != nil {
		d.internalError(w, r, err)
		return
	}
	secheaders.Set(w, r, mailPreviewPolicy)
	w.Header().Set("X-Frame-Options", "SAMEORIGIN")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(mail.PreviewHTML(m)))
}

// framingWriter gives the preview page the dashboard's policy plus leave
// to frame its own preview route.
type framingWriter struct{ http.ResponseWriter }

func (f framingWriter) WriteHeader(status int) {
	if f.Header().Get("Content-Security-Policy") == secheaders.DashboardPolicy {
		f.Header().Set("Content-Security-Policy", mailPagePolicy)
	}
	f.ResponseWriter.WriteHeader(status)
}
