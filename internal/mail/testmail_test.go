package mail_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/mail"
)

func TestTestMailLocales(t *testing.T) {
	p := mail.TestMailParams{
		To: mail.Address{Email: "ops@example.com"}, AppName: "Tripin <Travel>", AppURL: "https://tripin.example",
		Mailer: "log", From: "Tripin <noreply@tripin.example>", Location: jakarta,
		SentAt: time.Date(2026, 12, 7, 2, 15, 0, 0, time.UTC),
	}
	m, err := mail.TestMail(p)
	require.NoError(t, err)
	require.Equal(t, "Tripin <Travel> mail test", m.Subject)
	require.Contains(t, m.Text, "Sent at: Mon, 7 Dec 2026 09:15 WIB\n")
	require.Contains(t, m.HTML, "Tripin &lt;Travel&gt;")

	p.Locale = "id"
	m, err = mail.TestMail(p)
	require.NoError(t, err)
	require.Equal(t, "Uji email Tripin <Travel>", m.Subject)
	require.Contains(t, m.Text, "Dikirim: Senin, 7 Desember 2026 pukul 09.15 WIB\n")
	require.Contains(t, m.HTML, `<html lang="id">`)

	p.Locale = "xx"
	_, err = mail.TestMail(p)
	require.ErrorContains(t, err, `unknown locale "xx"`)
}
