package mail_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/mail"
)

// TestRenderIndonesian: APP_LOCALE=id gives Indonesian subjects and
// bodies, with Indonesian dates and times in WIB, in both parts.
func TestRenderIndonesian(t *testing.T) {
	r, err := mail.NewRenderer(mail.RendererParams{AppName: "Tripin Travel", AppURL: "https://tripin.example", Location: jakarta, Locale: "id"})
	require.NoError(t, err)
	require.Equal(t, "id", r.Locale())
	b := sampleBooking(42, "pending")
	b.DepartureDate = b.DepartureDate.AddDate(0, 0, -8) // Monday 7 December 2026

	m, err := r.Invoice(b)
	require.NoError(t, err)
	require.Equal(t, "Faktur TRP-7K2M9Q: Bromo Sunrise Trip", m.Subject)
	for part, body := range map[string]string{"text": m.Text, "html": m.HTML} {
		for _, want := range []string{
			"Halo Siti Rahma,", "Terima kasih telah memesan di Tripin Travel.",
			"Senin, 7 Desember 2026",                  // departure
			"Jumat, 27 November 2026 pukul 13.00 WIB", // booked, 06:00 UTC
			"Jumat, 27 November 2026 pukul 13.30 WIB", // deadline
			"Rp1.500.000", "https://tripin.example/bookings/42/pay",
		} {
			require.Contains(t, body, want, "%s part", part)
		}
		for _, english := range []string{"Hello", "Invoice", "Departure", "Dec"} {
			require.NotContains(t, body, english, "%s part", part)
		}
	}
	require.Contains(t, m.HTML, `<html lang="id">`)
	require.Contains(t, m.Text, "Kode pemesanan:   TRP-7K2M9Q\n", "labels line up")

	e, err := r.ETicket(sampleBooking(42, "paid"))
	require.NoError(t, err)
	require.Equal(t, "E-tiket Anda TRP-7K2M9Q: Bromo Sunrise Trip", e.Subject)
	require.Contains(t, e.Text, "Selamat berwisata!")
	require.Contains(t, e.HTML, "Jumat, 27 November 2026 pukul 13.20 WIB")
	require.Contains(t, e.HTML, `alt="Kode QR untuk pemesanan TRP-7K2M9Q"`)

	// The English renderer renders Indonesian on request (the dashboard's
	// preview), and its own emails stay English.
	en := newRenderer(t)
	m2, err := en.RenderIn("id", mail.KindInvoice, b)
	require.NoError(t, err)
	require.Equal(t, m.Text, m2.Text)
	m3, err := en.Invoice(b)
	require.NoError(t, err)
	require.Contains(t, m3.Text, "Mon, 7 Dec 2026")
	_, err = en.RenderIn("fr", mail.KindInvoice, b)
	require.ErrorContains(t, err, `unknown locale "fr"`)

	_, err = mail.NewRenderer(mail.RendererParams{Locale: "fr"})
	require.ErrorContains(t, err, `unknown locale "fr"`)
}

func TestRendererParamsFromLocale(t *testing.T) {
	cfg, err := config.FromMap(map[string]string{"APP_LOCALE": "id"})
	require.NoError(t, err)
	r, err := mail.NewRenderer(mail.RendererParamsFrom(cfg))
	require.NoError(t, err)
	m, err := r.Invoice(sampleBooking(1, "pending"))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(m.Subject, "Faktur "), m.Subject)
}

// TestTemplateErrorsAtStart: an override that does not parse, or parses
// but cannot render, stops NewRenderer (and so the process) with the
// file's path and line, before any email is sent.
func TestTemplateErrorsAtStart(t *testing.T) {
	for _, tc := range []struct {
		file, body, want string
	}{
		// A syntax error.
		{"invoice.html", "<p>\n{{.Code}}\n{{if .Code}}\n", "invoice.html:4: unexpected EOF"},
		// A field the data does not have: found only by rendering.
		{"invoice.txt", "Hello\n\n{{.Customer}}\n", "invoice.txt:3:2: executing \"invoice.txt\" at <.Customer>: can't evaluate field Customer"},
		// A message the locale files do not have.
		{"eticket.txt", "{{t \"mail.greeting\" \"name\" .CustomerName}}\n{{t \"eticket.nope\"}}\n", `eticket.txt:2:2: executing "eticket.txt" at <t "eticket.nope">: error calling t: no message "eticket.nope" in locale en`},
		// A message without its placeholder's value, in a define.
		{"subjects.txt", "{{define \"invoice.subject\"}}\n{{t \"invoice.subject\" \"code\" .Code}}{{end}}", `subjects.txt:2:2: executing "invoice.subject" at <t "invoice.subject" "code" .Code>: error calling t: message "invoice.subject" needs a value for {tour}`},
		// An unknown function.
		{"eticket.html", "<p>{{shout .Code}}</p>", `eticket.html:1: function "shout" not defined`},
	} {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, tc.file), []byte(tc.body), 0o644))
		_, err := mail.NewRenderer(mail.RendererParams{Dir: dir})
		require.Error(t, err, tc.file)
		require.Contains(t, err.Error(), filepath.Join(dir, tc.want), tc.file)
		var te *mail.TemplateError
		require.True(t, errors.As(err, &te), "%T %v", err, err)
		require.Equal(t, filepath.Join(dir, tc.file), te.File)
	}

	// The same files, fixed, load.
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "invoice.txt"), []byte("Hello {{.CustomerName}}\n{{t \"invoice.held\" \"deadline\" .PaymentDeadline}}\n"), 0o644))
	_, err := mail.NewRenderer(mail.RendererParams{Dir: dir})
	require.NoError(t, err)
}

// TestTemplateSources: the renderer says which file each template of an
// email comes from, the override's path or the embedded default.
func TestTemplateSources(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "invoice.html"), []byte("<p>{{.Code}}</p>"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "mine.txt"), []byte(`{{define "eticket.subject"}}Tiket {{.Code}}{{end}}`), 0o644))
	r, err := mail.NewRenderer(mail.RendererParams{Dir: dir})
	require.NoError(t, err)
	require.Equal(t, []mail.TemplateSource{
		{Template: "invoice.subject", File: "subjects.txt", Path: "embedded:templates/subjects.txt"},
		{Template: "invoice.txt", File: "invoice.txt", Path: "embedded:templates/invoice.txt"},
		{Template: "invoice.html", File: "invoice.html", Path: filepath.Join(dir, "invoice.html"), Override: true},
	}, r.Sources(mail.KindInvoice))
	require.Equal(t, mail.TemplateSource{Template: "eticket.subject", File: "mine.txt", Path: filepath.Join(dir, "mine.txt"), Override: true},
		r.Sources(mail.KindETicket)[0])
	e, err := r.ETicket(sampleBooking(1, "paid"))
	require.NoError(t, err)
	require.Equal(t, "Tiket TRP-7K2M9Q", e.Subject)
}

func TestPreviewHTMLInlinesImages(t *testing.T) {
	e, err := newRenderer(t).ETicket(sampleBooking(1, "paid"))
	require.NoError(t, err)
	html := mail.PreviewHTML(e)
	require.NotContains(t, html, "cid:")
	require.Contains(t, html, `src="data:image/png;base64,iVBOR`)
}
