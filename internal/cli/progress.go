package cli

import "github.com/tripintravel/tripin/internal/progress"

// meter returns the progress meter of a long command. It writes to
// stderr, so that what the command prints on stdout stays as it was: on a
// terminal one line redrawn in place, otherwise one line per item as it
// ends. quiet (the command prints JSON for programs) writes nothing.
func (e *Env) meter(quiet bool) *progress.Meter {
	if quiet {
		return progress.Discard()
	}
	return progress.For(e.Stderr)
}
