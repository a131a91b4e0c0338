package driver

import (
	"bytes"
	"encoding/json"
	"time"
	"unicode/utf8"
)

// AttemptError is the error of one failed attempt of a job, as its error
// log keeps it.
type AttemptError struct {
	// Attempt is the attempt's number, counted from 1.
	Attempt int `json:"attempt"`
	// At is when the attempt's failure was recorded, in Unix seconds.
	At int64 `json:"at"`
	// Error is the attempt's error chain, scrubbed of secrets.
	Error string `json:"error"`
}

// Time returns At as a time.
func (e AttemptError) Time() time.Time { return time.Unix(e.At, 0).UTC() }

// Error logs are bounded: a job that fails a thousand times keeps the
// last MaxErrorLogEntries of its attempts, each error cut at
// MaxErrorLogText bytes, and the whole log at most MaxErrorLogBytes, so
// that it fits every dialect's TEXT column (MySQL's holds 64 KiB) with
// room to spare. JSON spells some characters at length (a control
// character takes six bytes), so the last bound drops the oldest entries
// of a log whose errors are made of them.
const (
	MaxErrorLogEntries = 10
	MaxErrorLogText    = 2048
	MaxErrorLogBytes   = 32 << 10
)

// AppendErrorLog returns the JSON error log log with e appended, keeping
// the last entries within the bounds above and cutting e's text at
// MaxErrorLogText bytes (on a rune boundary). A log that cannot be read
// (never written by this package) is started afresh rather than lost with
// the new entry.
func AppendErrorLog(log []byte, e AttemptError) []byte {
	entries := ParseErrorLog(log)
	if len(e.Error) > MaxErrorLogText {
		cut := MaxErrorLogText
		for cut > 0 && !utf8.RuneStart(e.Error[cut]) {
			cut--
		}
		e.Error = e.Error[:cut] + "…"
	}
	entries = append(entries, e)
	if n := len(entries) - MaxErrorLogEntries; n > 0 {
		entries = entries[n:]
	}
	for {
		out, err := marshalErrorLog(entries)
		if err != nil {
			// Unreachable: the entries are plain strings and numbers.
			return log
		}
		if len(out) <= MaxErrorLogBytes || len(entries) == 1 {
			return out
		}
		entries = entries[1:]
	}
}

// marshalErrorLog writes entries as JSON, leaving <, > and & as they are
// (the log is shown escaped, never inlined in HTML).
func marshalErrorLog(entries []AttemptError) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(entries); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// ParseErrorLog reads a stored error log, oldest attempt first; an empty
// or unreadable one reads as no entries.
func ParseErrorLog(log []byte) []AttemptError {
	if len(log) == 0 {
		return nil
	}
	var entries []AttemptError
	if json.Unmarshal(log, &entries) != nil {
		return nil
	}
	return entries
}
