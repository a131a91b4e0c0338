package notify

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func stored(t *testing.T, e Event, at time.Time) Stored {
	t.Helper()
	b, err := json.Marshal(e.Details)
	require.NoError(t, err)
	return Stored{Kind: e.Kind, Subject: e.Subject, Body: e.Body, Details: b, CreatedAt: at}
}

func testNotifier(secrets ...string) *Notifier {
	loc := time.FixedZone("WIB", 7*3600)
	now := time.Date(2026, 11, 27, 10, 5, 0, 0, loc)
	return &Notifier{loc: loc, now: func() time.Time { return now }, source: "production · https://tripin.example",
		dashboard: "https://tripin.example/admin", secrets: secrets}
}

func TestRenderSummarisesByKind(t *testing.T) {
	n := testNotifier("hunter22")
	at := time.Date(2026, 11, 27, 10, 1, 0, 0, time.UTC).Add(-7 * time.Hour)
	var events []Stored
	for i := range 12 {
		kind, q := "SendInvoiceEmail", "emails"
		if i >= 10 {
			kind, q = "ExpireBooking", "default"
		}
		events = append(events, stored(t, JobFailure{Job: kind, Queue: q, Error: "dial tcp: password hunter22 refused\nstack…"}.Event(), at))
	}
	events = append(events,
		stored(t, LatePayment{Code: "TRP-AAA111", Amount: 150000, Status: "expired"}.Event(), at),
		stored(t, LongWait{Queue: "emails", WaitSeconds: 300, ThresholdSeconds: 120, Size: 12}.Event(0), at),
		stored(t, LongWait{Queue: "emails", WaitSeconds: 420, ThresholdSeconds: 120, Size: 40}.Event(0), at),
		Stored{Kind: "disk_full", Body: "disk <!channel> is full", Details: []byte(`{}`), CreatedAt: at},
	)
	msg := n.render(slackChannel("https://hooks.slack.test/x"), summarise(events, 3))
	require.Equal(t, strings.Join([]string{
		"*Tripin ops* (production · https://tripin.example): 12 jobs failed for good, 1 late payment to refund, 1 queue waiting too long, 1 other event since 10:01 WIB",
		"• 12 jobs failed for good: 10× SendInvoiceEmail (queue emails), 2× ExpireBooking (queue default)",
		"    SendInvoiceEmail: dial tcp: password ******** refused",
		"    ExpireBooking: dial tcp: password ******** refused",
		"• 1 late payment needs a refund: TRP-AAA111 (Rp150.000, booking expired)",
		"• Oldest wait on emails is 7m (threshold 2m; 40 jobs in the queue)",
		"• disk &lt;!channel&gt; is full",
		"• 3 more events follow in the next message",
		"Dashboard: https://tripin.example/admin",
	}, "\n"), msg)
}

func TestRenderFitsDiscordsLimit(t *testing.T) {
	n := testNotifier()
	var events []Stored
	for i := range 300 {
		events = append(events, stored(t, LatePayment{Code: fmt.Sprintf("TRP-%06d", i), Amount: 1}.Event(), time.Now()))
		events = append(events, stored(t, LongWait{Queue: fmt.Sprintf("queue-%03d-%s", i, strings.Repeat("x", 40)), WaitSeconds: 600, ThresholdSeconds: 60}.Event(0), time.Now()))
	}
	for _, ch := range []*channel{discordChannel("u"), slackChannel("u")} {
		msg := n.render(ch, summarise(events, 0))
		require.LessOrEqual(t, utf8.RuneCountInString(msg), ch.limit, ch.name)
		require.Contains(t, msg, "lines cut to fit the message", ch.name)
		require.True(t, strings.HasPrefix(msg, ch.bold("Tripin ops")), ch.name)
		require.True(t, strings.HasSuffix(msg, "Dashboard: https://tripin.example/admin"), ch.name)
		require.Contains(t, msg, "+290 more", "late payments beyond the first ten are counted")
	}
	// One enormous line cannot crowd out the rest.
	long := stored(t, JobFailure{Job: "X", Queue: "q", Error: strings.Repeat("é", 5000)}.Event(), time.Now())
	msg := n.render(discordChannel("u"), summarise([]Stored{long}, 0))
	require.LessOrEqual(t, utf8.RuneCountInString(msg), discordLimit)
}

func TestRetryAfter(t *testing.T) {
	h := func(v string) http.Header { return http.Header{"Retry-After": []string{v}} }
	require.Equal(t, 30*time.Second, retryAfter(h("30"), nil))
	require.Equal(t, 1500*time.Millisecond, retryAfter(h("1.5"), nil))
	require.Equal(t, time.Second, retryAfter(h("0.2"), nil), "at least a second")
	require.Equal(t, 2500*time.Millisecond, retryAfter(http.Header{}, []byte(`{"retry_after": 2.5}`)), "Discord's body")
	require.Equal(t, defaultRetryAfter, retryAfter(http.Header{}, []byte("rate limited")))
	require.Equal(t, maxRetryAfter, retryAfter(h("86400"), nil))
	d := retryAfter(h(time.Now().Add(90*time.Second).UTC().Format(http.TimeFormat)), nil)
	require.InDelta(t, 90, d.Seconds(), 2)
}

func TestFormats(t *testing.T) {
	require.Equal(t, "Rp1.500.000", rupiah(1500000))
	require.Equal(t, "Rp150", rupiah(150))
	require.Equal(t, "Rp0", rupiah(0))
	require.Equal(t, "45s", shortDuration(45*time.Second))
	require.Equal(t, "7m", shortDuration(7*time.Minute))
	require.Equal(t, "7m30s", shortDuration(7*time.Minute+30*time.Second))
	require.Equal(t, "1h05m", shortDuration(65*time.Minute))
	require.Equal(t, "ab…", truncate("abcdef", 3))
}

// TestRenderNamesTheApplication: the first line carries APP_NAME.
func TestRenderNamesTheApplication(t *testing.T) {
	n := testNotifier()
	n.appName = "Bali <Trails>"
	events := []Stored{stored(t, LatePayment{Code: "TRP-AAA111", Amount: 1}.Event(), time.Now())}
	require.True(t, strings.HasPrefix(n.render(slackChannel("u"), summarise(events, 0)), "*Bali &lt;Trails&gt; ops* (production"))
	require.True(t, strings.HasPrefix(n.render(discordChannel("u"), summarise(events, 0)), "**Bali <Trails> ops** (production"))
}
