package mail

import (
	"html"
	"time"

	"github.com/tripintravel/tripin/internal/i18n"
)

// KindTestMail names the message `tripin mail:test` sends, for previews.
const KindTestMail = "test"

// TestMailParams describe the message of `tripin mail:test`.
type TestMailParams struct {
	To Address
	// AppName and AppURL are APP_NAME (Config.Name) and APP_URL.
	AppName, AppURL string
	// Mailer says how the message goes ("smtp mail.example.com:587
	// (encryption tls)"); From is the sender as it appears.
	Mailer, From string
	SentAt       time.Time
	Location     *time.Location
	// Locale is APP_LOCALE; empty means en.
	Locale    string
	MessageID string
}

// TestMail builds the message of `tripin mail:test`, in p.Locale: it
// checks the mail configuration, so it is built in code from the locale
// file's messages and uses no template an override could break.
func TestMail(p TestMailParams) (*Message, error) {
	if p.Locale == "" {
		p.Locale = i18n.Default
	}
	l, err := i18n.Get(p.Locale)
	if err != nil {
		return nil, err
	}
	sent := l.DateTime(p.SentAt, p.Location)
	esc := html.EscapeString
	return &Message{
		To:      p.To,
		Subject: l.T("testmail.subject", "app", p.AppName),
		Text: l.T("testmail.intro", "app", p.AppName, "url", p.AppURL) + "\n\n" +
			l.T("testmail.mailer", "mailer", p.Mailer) + "\n" + l.T("testmail.from", "from", p.From) + "\n" +
			l.T("testmail.sent_at", "time", sent) + "\n\n" + l.T("testmail.works") + "\n",
		HTML: "<!DOCTYPE html>\n<html lang=\"" + l.Tag() + "\">\n<body>\n<p>" +
			esc(l.T("testmail.intro", "app", p.AppName, "url", p.AppURL)) + "</p>\n<p>" +
			esc(l.T("testmail.sent_at", "time", sent)) + "<br>" + esc(l.T("testmail.works")) + "</p>\n</body>\n</html>\n",
		MessageID: p.MessageID,
	}, nil
}
