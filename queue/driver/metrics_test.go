package driver_test

import (
	"testing"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
)

func TestRuntimeHistogramQuantile(t *testing.T) {
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	tests := []struct {
		name     string
		runtimes []time.Duration
		q        float64
		lo, hi   time.Duration
	}{
		{"empty", nil, 0.95, 0, 0},
		{"all fast", []time.Duration{ms(0.2), ms(0.3), ms(0.9)}, 0.95, 0, ms(1)},
		{"one slow in twenty", append(repeat(ms(3), 19), ms(700)), 0.95, ms(2.5), ms(5)},
		{"two slow in twenty", append(repeat(ms(3), 18), ms(700), ms(800)), 0.95, ms(500), ms(1000)},
		{"a bound falls in its bucket", []time.Duration{ms(10)}, 1, ms(5), ms(10)},
		{"past the last bound", []time.Duration{2 * time.Minute}, 0.95, time.Minute, time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h driver.RuntimeHistogram
			for _, d := range tc.runtimes {
				h.Observe(d)
			}
			if h.Count() != len(tc.runtimes) {
				t.Fatalf("Count %d, want %d", h.Count(), len(tc.runtimes))
			}
			got := h.Quantile(tc.q)
			if got < tc.lo || got > tc.hi {
				t.Fatalf("Quantile(%v) = %v, want within [%v, %v]", tc.q, got, tc.lo, tc.hi)
			}
		})
	}
}

// TestRuntimeHistogramAdd: merged histograms answer as one histogram of
// all the runtimes would.
func TestRuntimeHistogramAdd(t *testing.T) {
	var a, b, all driver.RuntimeHistogram
	for i := range 100 {
		d := time.Duration(i) * 7 * time.Millisecond
		all.Observe(d)
		if i%2 == 0 {
			a.Observe(d)
		} else {
			b.Observe(d)
		}
	}
	a.Add(&b)
	if a != all || a.Quantile(0.95) != all.Quantile(0.95) {
		t.Fatalf("merged %v, want %v", a, all)
	}
}

func repeat(d time.Duration, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}
