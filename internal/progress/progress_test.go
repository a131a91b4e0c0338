package progress

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeClock is a clock that moves only when told.
type fakeClock struct{ t time.Time }

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }
func msec(n int) time.Duration               { return time.Duration(n) * time.Millisecond }
func lines(s string) []string                { return strings.SplitAfter(s, "\n") }
func redraws(s string) int                   { return strings.Count(s, clearLine) }
func newMeter(tty, color bool) (*Meter, *bytes.Buffer, *fakeClock) {
	var out bytes.Buffer
	c := newFakeClock()
	return New(&out, tty, color, c.now), &out, c
}

func TestPlainModeWritesOneLinePerItem(t *testing.T) {
	m, out, c := newMeter(false, true) // colour is ignored off a terminal
	m.Start("users", 1204)
	for _, n := range []int64{500, 1000, 1204} {
		c.advance(msec(137))
		m.Set(n)
	}
	c.advance(msec(-1))
	m.Finish(1204)

	m.Start("tours", 0)
	m.Finish(0)

	m.Start("failed_jobs", 0)
	c.advance(2*time.Minute + 5*time.Second)
	m.Set(20000)
	m.Fail(30000, errors.New("deadlock\nsecond line"))

	m.SetUnit("jobs")
	m.Start("2026_01_01_000000_create_jobs", Uncounted)
	c.advance(msec(30))
	m.Finish(0)

	m.Start("sent_emails", 10)
	c.advance(msec(250))
	m.Set(5)
	m.Start("next", 0) // finishes sent_emails with what it had
	c.advance(msec(500))
	m.Finish(3)
	m.Set(9)    // no item running: nothing
	m.Finish(9) // likewise

	require.Equal(t, ""+
		"users  1,204 rows in 0.41 s (2,937 rows/s)\n"+
		"tours  0 rows in 0.00 s\n"+
		"failed_jobs  30,000 rows failed after 2m05s: deadlock\n"+
		"2026_01_01_000000_create_jobs  done in 0.03 s\n"+
		"sent_emails  5 jobs in 0.25 s (20 jobs/s)\n"+
		"next  3 jobs in 0.50 s (6 jobs/s)\n", out.String())
}

func TestTerminalModeRedrawsAtMostEveryInterval(t *testing.T) {
	m, out, c := newMeter(true, false)
	m.Start("bookings", 10000)
	require.Equal(t, clearLine+"bookings  0/10,000 rows (0%)", out.String())

	// Batches every 50 ms: a redraw only once 200 ms have passed since the
	// last one.
	out.Reset()
	for i := 1; i <= 8; i++ {
		c.advance(msec(50))
		m.Set(int64(i) * 500)
	}
	require.Equal(t, 2, redraws(out.String()), "%q", out.String())
	// After 400 ms, 4,000 of 10,000: 10,000 rows/s, 0.6 s left.
	require.Equal(t, ""+
		clearLine+"bookings  2,000/10,000 rows (20%)  10,000 rows/s  ETA 1s"+
		clearLine+"bookings  4,000/10,000 rows (40%)  10,000 rows/s  ETA 1s", out.String())

	out.Reset()
	c.advance(msec(600))
	m.Set(7000) // 7,000 in 1 s: 3,000 left at 7,000/s
	require.Equal(t, clearLine+"bookings  7,000/10,000 rows (70%)  7,000 rows/s  ETA 0s", out.String())

	out.Reset()
	c.advance(msec(200))
	m.Finish(10000)
	// The final line replaces the redrawn one and stays.
	require.Equal(t, clearLine+"bookings  10,000 rows in 1.20 s (8,333 rows/s)\n", out.String())
	require.Len(t, lines(out.String()), 2)
}

func TestTerminalModeWithoutTotalOrCount(t *testing.T) {
	m, out, c := newMeter(true, false)
	m.Start("failed_jobs", 0)
	c.advance(msec(500))
	m.Set(1000)
	require.Equal(t, clearLine+"failed_jobs  0 rows"+clearLine+"failed_jobs  1,000 rows  2,000 rows/s", out.String())

	out.Reset()
	m.Start("2026_01_01_000000_create_jobs", Uncounted)
	c.advance(msec(1500))
	m.Set(0)
	m.Finish(0)
	require.Equal(t, ""+
		clearLine+"failed_jobs  1,000 rows in 0.50 s (2,000 rows/s)\n"+
		clearLine+"2026_01_01_000000_create_jobs  0.00 s"+
		clearLine+"2026_01_01_000000_create_jobs  1.50 s"+
		clearLine+"2026_01_01_000000_create_jobs  done in 1.50 s\n", out.String())
}

func TestColourOnlyOnTerminal(t *testing.T) {
	m, out, c := newMeter(true, true)
	m.Start("users", 2)
	c.advance(time.Second)
	m.Finish(2)
	require.Equal(t, ""+
		clearLine+bold+"users"+reset+"  0/2 rows (0%)"+
		clearLine+green+"users"+reset+"  2 rows in 1.00 s"+dim+" (2 rows/s)"+reset+"\n", out.String())

	m, out, _ = newMeter(true, true)
	m.Start("users", 2)
	m.Fail(1, errors.New("boom"))
	require.Contains(t, out.String(), red+"users"+reset+"  1 rows failed after 0.00 s: boom\n")

	m, out, _ = newMeter(false, true)
	m.Start("users", 2)
	m.Finish(2)
	require.NotContains(t, out.String(), "\x1b")
}

func TestForHonoursNoColorAndTerminals(t *testing.T) {
	t.Setenv("NO_COLOR", "1")
	require.True(t, NoColor())
	t.Setenv("NO_COLOR", "")
	require.False(t, NoColor(), "an empty NO_COLOR asks for nothing")

	var buf bytes.Buffer
	require.False(t, IsTerminal(&buf))
	m := For(&buf)
	require.False(t, m.tty)
	require.False(t, m.color)

	m = Discard()
	m.Start("x", 1)
	m.Finish(1)
}

func TestRateAndETA(t *testing.T) {
	for _, tc := range []struct {
		done, total int64
		elapsed     time.Duration
		rate        float64
		rateOK      bool
		eta         time.Duration
		etaOK       bool
	}{
		{done: 1204, total: 2408, elapsed: msec(410), rate: 1204 / 0.41, rateOK: true, eta: msec(410), etaOK: true},
		{done: 0, total: 100, elapsed: time.Second},
		{done: 10, total: 100, elapsed: 0},
		{done: 10, total: 0, elapsed: time.Second, rate: 10, rateOK: true},
		{done: 120, total: 100, elapsed: time.Second, rate: 120, rateOK: true, eta: 0, etaOK: true},
		{done: 1, total: 3601, elapsed: time.Second, rate: 1, rateOK: true, eta: time.Hour, etaOK: true},
	} {
		r, ok := Rate(tc.done, tc.elapsed)
		require.Equal(t, tc.rateOK, ok, "%+v", tc)
		require.InDelta(t, tc.rate, r, 1e-9, "%+v", tc)
		eta, ok := ETA(tc.done, tc.total, tc.elapsed)
		require.Equal(t, tc.etaOK, ok, "%+v", tc)
		require.InDelta(t, tc.eta, eta, float64(time.Microsecond), "%+v", tc)
	}
}

func TestFormats(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 7: "7", 999: "999", 1000: "1,000", 1204: "1,204",
		123456: "123,456", 1234567: "1,234,567", -1234: "-1,234"} {
		require.Equal(t, want, FormatCount(n))
	}
	for d, want := range map[time.Duration]string{msec(410): "0.41 s", 0: "0.00 s", msec(59990): "59.99 s",
		time.Minute: "1m00s", 125 * time.Second: "2m05s", time.Hour + 2*time.Minute + 40*time.Second: "1h02m"} {
		require.Equal(t, want, FormatSeconds(d))
	}
	require.Equal(t, "9s", FormatETA(9*time.Second+400*time.Millisecond))
}

func TestReportAndAbort(t *testing.T) {
	for _, tty := range []bool{false, true} {
		m, out, c := newMeter(tty, false)
		m.Start("bookings", 100)
		c.advance(msec(300))
		m.Set(40)
		m.Abort() // the caller reports the error
		m.Abort()
		m.Report("sent_emails", 1204, msec(410), nil)
		m.Start("0001_create_users", Uncounted)
		c.advance(msec(45))
		m.Report("0001_create_users", -1, msec(30), nil) // the caller's time wins
		m.Start("failed_jobs", 0)
		c.advance(msec(100))
		m.Set(10)
		m.Report("job_metrics", 3, msec(20), errors.New("lock wait timeout"))

		want := "" +
			"sent_emails  1,204 rows in 0.41 s (2,937 rows/s)\n" +
			"0001_create_users  done in 0.03 s\n" +
			"failed_jobs  10 rows in 0.10 s (100 rows/s)\n" +
			"job_metrics  3 rows failed after 0.02 s: lock wait timeout\n"
		if !tty {
			require.Equal(t, want, out.String())
			continue
		}
		// On a terminal the aborted line is cleared, and every final
		// line is written over the running one.
		require.Equal(t, ""+
			clearLine+"bookings  0/100 rows (0%)"+
			clearLine+"bookings  40/100 rows (40%)  133 rows/s  ETA 0s"+
			clearLine+
			clearLine+"sent_emails  1,204 rows in 0.41 s (2,937 rows/s)\n"+
			clearLine+"0001_create_users  0.00 s"+
			clearLine+"0001_create_users  done in 0.03 s\n"+
			clearLine+"failed_jobs  0 rows"+
			clearLine+"failed_jobs  10 rows in 0.10 s (100 rows/s)\n"+
			clearLine+"job_metrics  3 rows failed after 0.02 s: lock wait timeout\n", out.String())
	}
}
