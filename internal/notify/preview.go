package notify

import (
	"encoding/json"
	"time"

	"github.com/tripintravel/tripin/internal/config"
)

// PreviewMessage is the text one channel would receive.
type PreviewMessage struct {
	// Channel is "slack" or "discord".
	Channel string
	Text    string
}

// Preview renders the summary each channel would post for a sample of
// every kind of event, as cfg configures the messages (APP_NAME, APP_ENV
// and APP_URL, APP_TIMEZONE), at now. The dashboard's mail page shows
// it; nothing is recorded or sent.
func Preview(cfg *config.Config, now time.Time) []PreviewMessage {
	loc := cfg.AppTimezone
	if loc == nil {
		loc = time.UTC
	}
	n := &Notifier{
		appName: cfg.Name(), source: cfg.AppEnv + " · " + cfg.AppURL, dashboard: cfg.AppURL + "/admin",
		loc: loc, now: func() time.Time { return now }, secrets: cfg.Secrets(),
	}
	at := now.Add(-2 * time.Minute)
	var events []Stored
	add := func(e Event) {
		b, _ := json.Marshal(e.Details)
		events = append(events, Stored{Kind: e.Kind, Subject: e.Subject, Body: e.Body, Details: b, CreatedAt: at})
	}
	for range 3 {
		add(JobFailure{Job: "SendInvoiceEmail", Queue: "emails", Attempts: 3,
			Error: "mail: send: smtp: 421 4.7.0 try again later"}.Event())
	}
	add(JobFailure{Job: "ExpireBooking", Queue: "default", Attempts: 3, Error: "store: expire booking: database is locked"}.Event())
	add(LatePayment{BookingID: 1, Code: "TRP-SAMPLE", Amount: 1500000, Status: "expired", TransactionID: "sample"}.Event())
	add(LongWait{Queue: "emails", WaitSeconds: 420, ThresholdSeconds: 120, Size: 57}.Event(0))
	add(QueueBusy{Queue: "default", Size: 12000, Max: 10000}.Event(0))
	s := summarise(events, 0)
	var out []PreviewMessage
	for _, ch := range []*channel{slackChannel("https://hooks.slack.invalid/preview"), discordChannel("https://discord.invalid/preview")} {
		out = append(out, PreviewMessage{Channel: ch.name, Text: n.render(ch, s)})
	}
	return out
}
