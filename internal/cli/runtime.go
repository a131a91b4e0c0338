package cli

import (
	"os"
	"runtime/debug"
)

// defaultGCPercent is the garbage collector's target when GOGC is not set.
// Tripin's live heap is small (tens of megabytes) while a busy server
// allocates per request and per job, so Go's default of 100 runs a
// collection many times a second; 400 trades a few more megabytes of heap
// for a quarter less CPU per booking request (docs/BENCHMARKS.md).
const defaultGCPercent = 400

// tuneGC applies defaultGCPercent unless the operator set GOGC (which,
// like GOMEMLIMIT, the runtime has already read and which then wins). It
// returns the percentage in effect.
func tuneGC() int {
	if v, ok := os.LookupEnv("GOGC"); ok && v != "" {
		p := debug.SetGCPercent(-1)
		debug.SetGCPercent(p)
		return p
	}
	debug.SetGCPercent(defaultGCPercent)
	return defaultGCPercent
}
