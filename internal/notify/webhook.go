package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// channel is one webhook: where it posts, how it marks up and wraps a
// message, and the column that records its deliveries.
type channel struct {
	name   string
	url    string
	column string
	// limit is the most characters one message may have.
	limit int
	// bold and escape mark text up in the channel's dialect.
	bold   func(string) string
	escape func(string) string
	// payload wraps the message in the channel's JSON body.
	payload func(text string) any
}

// Slack's section blocks take up to 3,000 characters; the text field
// repeats the message for notifications and clients without blocks.
const slackLimit = 3000

func slackChannel(u string) *channel {
	return &channel{
		name: "slack", url: u, column: "slack_sent_at", limit: slackLimit,
		bold: func(s string) string { return "*" + s + "*" },
		// Slack reads <…> as links and mentions (<!channel>): a job's error
		// must not ping anyone.
		escape: strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace,
		payload: func(text string) any {
			return map[string]any{
				"text": text,
				"blocks": []any{map[string]any{
					"type": "section",
					"text": map[string]any{"type": "mrkdwn", "text": text},
				}},
			}
		},
	}
}

// Discord refuses messages over 2,000 characters.
const discordLimit = 2000

func discordChannel(u string) *channel {
	return &channel{
		name: "discord", url: u, column: "discord_sent_at", limit: discordLimit,
		bold:   func(s string) string { return "**" + s + "**" },
		escape: func(s string) string { return s },
		payload: func(text string) any {
			// No @everyone or role pings, whatever a job's error says.
			return map[string]any{"content": text, "allowed_mentions": map[string]any{"parse": []string{}}}
		},
	}
}

// WebhookError is a webhook's answer other than 2xx.
type WebhookError struct {
	Channel string
	Status  int
	// Body is the start of the answer ("invalid_payload", "no_service").
	Body string
	// RetryAfter is how long a 429 asked to wait.
	RetryAfter time.Duration
}

func (e *WebhookError) Error() string {
	msg := fmt.Sprintf("notify: %s webhook answered %d", e.Channel, e.Status)
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// The bounds of a 429's wait: a missing or absurd Retry-After must neither
// hammer the webhook nor park the notifications for a day.
const (
	defaultRetryAfter = 30 * time.Second
	maxRetryAfter     = time.Hour
)

// post sends text to ch. The error never contains the webhook URL, which
// is a secret and would otherwise be stored in jobs.last_error.
func (n *Notifier) post(ctx context.Context, ch *channel, text string) error {
	body, err := json.Marshal(ch.payload(text))
	if err != nil {
		return fmt.Errorf("notify: %s: encode message: %w", ch.name, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ch.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("notify: %s: bad webhook URL", ch.name)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tripin-notify")
	resp, err := n.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("notify: post to %s: %w", ch.name, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	we := &WebhookError{Channel: ch.name, Status: resp.StatusCode, Body: n.scrub(strings.TrimSpace(string(snippet)))}
	if resp.StatusCode == http.StatusTooManyRequests {
		we.RetryAfter = retryAfter(resp.Header, snippet)
	}
	return we
}

// retryAfter reads a 429's wait: the Retry-After header in seconds
// (Slack; Discord may send a fraction) or as an HTTP date, else Discord's
// JSON retry_after, else a default.
func retryAfter(h http.Header, body []byte) time.Duration {
	d := time.Duration(0)
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if secs, err := strconv.ParseFloat(v, 64); err == nil {
			d = time.Duration(secs * float64(time.Second))
		} else if t, err := http.ParseTime(v); err == nil {
			d = time.Until(t)
		}
	}
	if d <= 0 {
		var j struct {
			RetryAfter float64 `json:"retry_after"`
		}
		if json.Unmarshal(body, &j) == nil && j.RetryAfter > 0 {
			d = time.Duration(j.RetryAfter * float64(time.Second))
		}
	}
	switch {
	case d <= 0:
		return defaultRetryAfter
	case d > maxRetryAfter:
		return maxRetryAfter
	case d < time.Second:
		return time.Second
	}
	return d
}
