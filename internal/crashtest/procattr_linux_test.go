package crashtest

import (
	"os/exec"
	"syscall"
)

// killWithParent makes the worker die with the test process, so that a test
// binary killed by a timeout leaves no worker behind.
func killWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
