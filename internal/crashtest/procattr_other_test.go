//go:build !linux

package crashtest

import "os/exec"

// killWithParent is a no-op where the OS cannot tie a child's life to its
// parent's; the tests' cleanups still kill their workers.
func killWithParent(cmd *exec.Cmd) {}
