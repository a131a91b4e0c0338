//go:build !(linux || darwin || freebsd)

package doctor

// freeBytes is not read on this system.
func freeBytes(string) (int64, error) { return 0, errUnsupported }
