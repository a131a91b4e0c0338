//go:build !linux

package sqldb

import "syscall"

// controlUserTimeout does nothing where TCP_USER_TIMEOUT does not exist;
// keepalives and the engine's deadlines still apply.
func controlUserTimeout(string, string, syscall.RawConn) error { return nil }
