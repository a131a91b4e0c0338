package driver

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestAppendErrorLogKeepsTheLastAttempts(t *testing.T) {
	var log []byte
	for i := 1; i <= MaxErrorLogEntries+3; i++ {
		log = AppendErrorLog(log, AttemptError{Attempt: i, At: int64(1000 + i), Error: "boom " + strings.Repeat("x", i)})
	}
	got := ParseErrorLog(log)
	if len(got) != MaxErrorLogEntries {
		t.Fatalf("kept %d entries, want %d", len(got), MaxErrorLogEntries)
	}
	if got[0].Attempt != 4 || got[len(got)-1].Attempt != MaxErrorLogEntries+3 {
		t.Fatalf("kept attempts %d..%d, want 4..%d", got[0].Attempt, got[len(got)-1].Attempt, MaxErrorLogEntries+3)
	}
	if got[len(got)-1].At != int64(1000+MaxErrorLogEntries+3) || !strings.HasPrefix(got[0].Error, "boom xxxx") {
		t.Fatalf("entry not kept as written: %+v", got[0])
	}
}

func TestAppendErrorLogCutsLongErrorsOnARuneBoundary(t *testing.T) {
	long := strings.Repeat("é", MaxErrorLogText) // two bytes each
	got := ParseErrorLog(AppendErrorLog(nil, AttemptError{Attempt: 1, Error: long}))
	if len(got) != 1 {
		t.Fatalf("entries: %d", len(got))
	}
	e := got[0].Error
	if !utf8.ValidString(e) || len(e) > MaxErrorLogText+len("…") || !strings.HasSuffix(e, "…") {
		t.Fatalf("cut error: %d bytes, valid %v", len(e), utf8.ValidString(e))
	}
}

func TestAppendErrorLogStartsAfreshOnAnUnreadableLog(t *testing.T) {
	got := ParseErrorLog(AppendErrorLog([]byte("not json"), AttemptError{Attempt: 2, Error: "e"}))
	if len(got) != 1 || got[0].Attempt != 2 {
		t.Fatalf("got %+v", got)
	}
	if ParseErrorLog(nil) != nil || ParseErrorLog([]byte("{")) != nil {
		t.Fatal("empty or unreadable logs read as entries")
	}
}

func TestAppendErrorLogStaysWithinItsBytes(t *testing.T) {
	// Control characters take six bytes each in JSON: ten such errors
	// would outgrow MySQL's TEXT column.
	var log []byte
	for i := 1; i <= MaxErrorLogEntries+2; i++ {
		log = AppendErrorLog(log, AttemptError{Attempt: i, Error: strings.Repeat("\x01<", MaxErrorLogText)})
	}
	got := ParseErrorLog(log)
	if len(log) > MaxErrorLogBytes || len(got) == 0 || got[len(got)-1].Attempt != MaxErrorLogEntries+2 {
		t.Fatalf("log of %d bytes (max %d), %d entries", len(log), MaxErrorLogBytes, len(got))
	}
	if len(got) == MaxErrorLogEntries {
		t.Fatal("no entry dropped: the bound was not reached, the test proves nothing")
	}
	// Markup stays as it is: the log is not HTML.
	if !strings.Contains(string(AppendErrorLog(nil, AttemptError{Error: "<b>&"})), `"<b>&"`) {
		t.Fatal("markup escaped in the stored log")
	}
}
