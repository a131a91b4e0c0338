package mail_test

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tripintravel/tripin/internal/config"
	"github.com/tripintravel/tripin/internal/mail"
)

func TestRenderInvoice(t *testing.T) {
	r := newRenderer(t)
	m, err := r.Invoice(sampleBooking(42, "pending"))
	if err != nil {
		t.Fatal(err)
	}
	if m.To.Email != "siti@example.com" || m.To.Name != "Siti Rahma" {
		t.Errorf("To = %+v", m.To)
	}
	if m.Subject != "Invoice TRP-7K2M9Q: Bromo Sunrise Trip" {
		t.Errorf("Subject = %q", m.Subject)
	}
	for part, body := range map[string]string{"text": m.Text, "html": m.HTML} {
		for _, want := range []string{
			"Siti Rahma", "TRP-7K2M9Q", "Bromo Sunrise Trip", "Bromo, East Java",
			"Tue, 15 Dec 2026",         // departure date
			"Rp500.000", "Rp1.500.000", // unit price and total
			"Fri, 27 Nov 2026 13:00 WIB", // created, 06:00 UTC
			"Fri, 27 Nov 2026 13:30 WIB", // payment deadline, 06:30 UTC
			"https://tripin.example/bookings/42/pay",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("%s part lacks %q:\n%s", part, want, body)
			}
		}
		if strings.Contains(body, "UTC") || strings.Contains(body, "06:30") {
			t.Errorf("%s part shows a UTC time:\n%s", part, body)
		}
	}
	if !strings.Contains(m.HTML, `<a href="https://tripin.example/bookings/42/pay"`) {
		t.Errorf("html part has no payment button link:\n%s", m.HTML)
	}
	if len(m.Inline) != 0 {
		t.Errorf("invoice has %d inline files, want none", len(m.Inline))
	}
}

func TestRenderETicket(t *testing.T) {
	r := newRenderer(t)
	b := sampleBooking(42, "paid")
	m, err := r.ETicket(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Your e-ticket TRP-7K2M9Q: Bromo Sunrise Trip" {
		t.Errorf("Subject = %q", m.Subject)
	}
	for part, body := range map[string]string{"text": m.Text, "html": m.HTML} {
		for _, want := range []string{
			"TRP-7K2M9Q", "Bromo Sunrise Trip", "Tue, 15 Dec 2026", "Rp1.500.000",
			"Fri, 27 Nov 2026 13:20 WIB", // paid at
			"https://tripin.example/api/bookings/42/ticket",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("%s part lacks %q:\n%s", part, want, body)
			}
		}
	}
	if len(m.Inline) != 1 {
		t.Fatalf("e-ticket has %d inline files, want the QR code", len(m.Inline))
	}
	qr := m.Inline[0]
	if !strings.Contains(m.HTML, `src="cid:`+qr.ContentID+`"`) {
		t.Errorf("html does not reference cid:%s:\n%s", qr.ContentID, m.HTML)
	}
	if qr.ContentType != "image/png" || !bytes.HasPrefix(qr.Data, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("QR inline is %s starting %q, want a PNG", qr.ContentType, qr.Data[:min(8, len(qr.Data))])
	}
	img, err := png.Decode(bytes.NewReader(qr.Data))
	if err != nil {
		t.Fatalf("QR PNG does not decode: %v", err)
	}
	if sz := img.Bounds().Size(); sz.X != 256 || sz.Y != 256 {
		t.Errorf("QR image is %v, want 256x256", sz)
	}
	// The QR of another code is another image: it encodes the code.
	other := *b
	other.Code = "TRP-OTHER1"
	m2, err := r.ETicket(&other)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(m2.Inline[0].Data, qr.Data) {
		t.Error("QR images of two booking codes are identical")
	}
}

func TestRenderEscapesHTML(t *testing.T) {
	b := sampleBooking(1, "pending")
	b.CustomerName = `<script>alert("x")</script>`
	m, err := newRenderer(t).Invoice(b)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.HTML, "<script>") {
		t.Errorf("customer name not escaped in HTML:\n%s", m.HTML)
	}
}

func TestRenderPaymentURLFromLoader(t *testing.T) {
	b := sampleBooking(9, "pending")
	b.PaymentURL = "https://app.sandbox.midtrans.com/snap/v4/redirection/abc"
	m, err := newRenderer(t).Invoice(b)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Text, b.PaymentURL) || !strings.Contains(m.HTML, b.PaymentURL) {
		t.Errorf("payment URL from the loader not used")
	}
}

func TestTemplatesOverride(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("invoice.txt", "Custom invoice {{.Code}} total {{rupiah .Booking.TotalAmount}} due {{datetime .Booking.ExpiresAt}}\n")
	write("subjects.txt", `{{define "invoice.subject"}}Tagihan {{.Code}}{{end}}`)
	write("notes.md", "ignored")
	r, err := mail.NewRenderer(mail.RendererParams{Dir: dir, AppURL: "https://tripin.example", Location: jakarta})
	if err != nil {
		t.Fatal(err)
	}
	m, err := r.Invoice(sampleBooking(42, "pending"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "Custom invoice TRP-7K2M9Q total Rp1.500.000 due Fri, 27 Nov 2026 13:30 WIB\n"; m.Text != want {
		t.Errorf("Text = %q, want %q", m.Text, want)
	}
	if m.Subject != "Tagihan TRP-7K2M9Q" {
		t.Errorf("Subject = %q", m.Subject)
	}
	// Files not overridden keep the embedded version.
	if !strings.Contains(m.HTML, "Invoice for booking") {
		t.Errorf("embedded HTML not used:\n%s", m.HTML)
	}
	// subjects.txt replaced only the subject it defines.
	e, err := r.ETicket(sampleBooking(42, "paid"))
	if err != nil {
		t.Fatal(err)
	}
	if e.Subject != "Your e-ticket TRP-7K2M9Q: Bromo Sunrise Trip" {
		t.Errorf("e-ticket Subject = %q", e.Subject)
	}
}

func TestTemplatesOverrideErrors(t *testing.T) {
	broken := t.TempDir()
	if err := os.WriteFile(filepath.Join(broken, "eticket.html"), []byte("{{.Code"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, dir := range map[string]string{
		"missing folder": filepath.Join(t.TempDir(), "nope"),
		"broken file":    broken,
	} {
		if _, err := mail.NewRenderer(mail.RendererParams{Dir: dir}); err == nil {
			t.Errorf("%s: NewRenderer succeeded", name)
		}
	}
}

// TestRenderUsesAppName: the emails speak in APP_NAME's name when it is
// set, and in MAIL_FROM_NAME's ("Tripin Travel" by default) otherwise.
func TestRenderUsesAppName(t *testing.T) {
	for _, tc := range []struct {
		vals map[string]string
		want string
	}{
		{map[string]string{}, "Thank you for booking with Tripin Travel."},
		{map[string]string{"MAIL_FROM_NAME": "Tripin Bookings"}, "Thank you for booking with Tripin Bookings."},
		{map[string]string{"APP_NAME": "Bali Trails", "MAIL_FROM_NAME": "Bali Trails Bookings"}, "Thank you for booking with Bali Trails."},
	} {
		cfg, err := config.FromMap(tc.vals)
		if err != nil {
			t.Fatal(err)
		}
		r, err := mail.NewRenderer(mail.RendererParamsFrom(cfg))
		if err != nil {
			t.Fatal(err)
		}
		m, err := r.Invoice(sampleBooking(42, "pending"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(m.Text, tc.want) || !strings.Contains(m.HTML, strings.TrimSuffix(tc.want, ".")) {
			t.Errorf("%v: the invoice lacks %q:\n%s", tc.vals, tc.want, m.Text)
		}
	}
}
