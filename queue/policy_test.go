package queue

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRetryDelayList(t *testing.T) {
	list := []time.Duration{10 * time.Second, 30 * time.Second, 60 * time.Second}
	for attempt, want := range map[int]time.Duration{1: 10 * time.Second, 2: 30 * time.Second, 3: time.Minute, 4: time.Minute, 50: time.Minute} {
		require.Equal(t, want, retryDelay(list, attempt), "attempt %d", attempt)
	}
	require.Equal(t, 5*time.Second, retryDelay([]time.Duration{5 * time.Second}, 9), "one value is a fixed backoff")
}

func TestRetryDelayExponential(t *testing.T) {
	for attempt := 1; attempt <= 20; attempt++ {
		base := maxExponentialBackoff
		if attempt < 13 {
			base = min(time.Second<<(attempt-1), maxExponentialBackoff)
		}
		seen := map[time.Duration]bool{}
		for range 50 {
			d := retryDelay(nil, attempt)
			require.GreaterOrEqual(t, d, base*9/10, "attempt %d", attempt)
			require.LessOrEqual(t, d, base*11/10, "attempt %d", attempt)
			seen[d] = true
		}
		require.Greater(t, len(seen), 1, "attempt %d: no jitter", attempt)
	}
}

func TestParseAndFormatBackoff(t *testing.T) {
	got, err := ParseBackoff(" 10, 30 ,1.5, 250ms,1m")
	require.NoError(t, err)
	require.Equal(t, []time.Duration{10 * time.Second, 30 * time.Second, 1500 * time.Millisecond, 250 * time.Millisecond, time.Minute}, got)
	require.Equal(t, "10,30,1.5,0.25,60", FormatBackoff(got))
	for _, bad := range []string{"x", "10,,30", "-1", "-5s"} {
		_, err := ParseBackoff(bad)
		require.Error(t, err, bad)
	}
	none, err := ParseBackoff("")
	require.NoError(t, err)
	require.Nil(t, none)
}

type codeError struct{ code int }

func (e *codeError) Error() string { return fmt.Sprintf("smtp %d", e.code) }

func TestErrorMarkers(t *testing.T) {
	base := &codeError{550}
	perm := fmt.Errorf("send: %w", Permanent(base))
	require.True(t, IsPermanent(perm))
	require.False(t, IsPermanent(base))
	require.ErrorIs(t, perm, base, "Permanent keeps the chain")
	require.Equal(t, "send: smtp 550", perm.Error())
	require.Equal(t, "permanent failure", Permanent(nil).Error())

	d, ok := IsSnooze(fmt.Errorf("limited: %w", Snooze(time.Minute)))
	require.True(t, ok)
	require.Equal(t, time.Minute, d)
	d, _ = IsSnooze(Snooze(-time.Second))
	require.Zero(t, d)
	_, ok = IsSnooze(base)
	require.False(t, ok)
}

func TestErrorChain(t *testing.T) {
	err := fmt.Errorf("send invoice: %w", errors.Join(&codeError{421}, errors.New("retry later")))
	chain := ErrorChain(err)
	lines := strings.Split(chain, "\n")
	require.Equal(t, "send invoice: smtp 421", lines[0])
	require.Contains(t, chain, "caused by *fmt.wrapError: send invoice: smtp 421\nretry later")
	require.Contains(t, chain, "  caused by *queue.codeError: smtp 421")
	require.Contains(t, chain, "  caused by *errors.errorString: retry later")

	p := &panicError{value: "boom", stack: []byte("goroutine 7 [running]:\nmain.handler()")}
	chain = ErrorChain(fmt.Errorf("attempt: %w", p))
	require.True(t, strings.HasPrefix(chain, "attempt: panic: boom\n"))
	require.True(t, strings.HasSuffix(chain, "\n\ngoroutine 7 [running]:\nmain.handler()"), chain)
	require.Empty(t, ErrorChain(nil))
}

func TestFormatRunTime(t *testing.T) {
	require.Equal(t, "12.05ms", formatRunTime(12050*time.Microsecond))
	require.Equal(t, "0.00ms", formatRunTime(0))
	require.Equal(t, "1.50s", formatRunTime(1500*time.Millisecond))
}
