//go:build !linux

package cli

import (
	"os"
	"testing"
)

// openTerminal skips: the test opens a pseudo-terminal the Linux way.
func openTerminal(t *testing.T) *os.File {
	t.Helper()
	t.Skip("pseudo-terminals are opened on Linux only")
	return nil
}
