//go:build unix

package serve

import "syscall"

// fdLimit is the process's limit on open file descriptors (the soft
// RLIMIT_NOFILE, which the Go runtime raises to the hard limit at start),
// or 0 if it cannot be read.
func fdLimit() uint64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	return r.Cur
}
