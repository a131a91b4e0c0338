package queue

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Payload is the JSON stored in jobs.payload and failed_jobs.payload, in
// Laravel's shape. Options a dispatch did not set are null, so that the
// worker's flags (--tries, --timeout, --backoff) apply to them as in
// Laravel. Data holds the job's args and nothing else: never secrets.
type Payload struct {
	UUID        string `json:"uuid"`
	DisplayName string `json:"displayName"`
	Job         string `json:"job"`
	// MaxTries is the number of attempts; 0 means unlimited.
	MaxTries *int `json:"maxTries"`
	// Timeout in seconds; 0 means none.
	Timeout *float64 `json:"timeout"`
	// Backoff in seconds, comma-separated, one per attempt with the last
	// repeating ("10,30,60").
	Backoff *string `json:"backoff"`
	// RetryUntil is a Unix time in seconds.
	RetryUntil *int64 `json:"retryUntil"`
	// Tags label the job for search, as in Horizon's payloads.
	Tags []string        `json:"tags,omitempty"`
	Data json.RawMessage `json:"data"`
}

// DecodePayload parses a stored payload.
func DecodePayload(b []byte) (*Payload, error) {
	var p Payload
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("queue: decode payload: %w", err)
	}
	return &p, nil
}

// PayloadJobName returns the job's display name from a stored payload
// (its kind when no display name was set), or "?" when the payload cannot
// be read: what operators see in listings of failed and waiting jobs.
func PayloadJobName(payload []byte) string {
	var p struct {
		DisplayName string `json:"displayName"`
		Job         string `json:"job"`
	}
	if json.Unmarshal(payload, &p) != nil {
		return "?"
	}
	if p.DisplayName != "" {
		return p.DisplayName
	}
	if p.Job != "" {
		return p.Job
	}
	return "?"
}

// backoffList parses the payload's backoff.
func (p *Payload) backoffList() ([]time.Duration, error) {
	if p.Backoff == nil {
		return nil, nil
	}
	return ParseBackoff(*p.Backoff)
}

// timeout returns the payload's timeout and whether it was set.
func (p *Payload) timeout() (time.Duration, bool) {
	if p.Timeout == nil {
		return 0, false
	}
	if *p.Timeout <= 0 {
		return -1, true
	}
	return time.Duration(*p.Timeout * float64(time.Second)), true
}

// ParseBackoff parses a comma-separated backoff list. Each value is a
// number of seconds ("10", "0.5") or a Go duration ("250ms", "1m").
func ParseBackoff(s string) ([]time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var out []time.Duration
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if sec, err := strconv.ParseFloat(f, 64); err == nil {
			if sec < 0 {
				return nil, fmt.Errorf("queue: backoff %q: negative", f)
			}
			out = append(out, time.Duration(sec*float64(time.Second)))
			continue
		}
		d, err := time.ParseDuration(f)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("queue: backoff %q: want seconds or a duration such as 250ms", f)
		}
		out = append(out, d)
	}
	return out, nil
}

// FormatBackoff renders a backoff list the way Laravel stores it: seconds,
// comma-separated.
func FormatBackoff(list []time.Duration) string {
	parts := make([]string, len(list))
	for i, d := range list {
		parts[i] = strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
	}
	return strings.Join(parts, ",")
}
