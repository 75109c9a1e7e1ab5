//go:build !unix

package serve

// fdLimit: no RLIMIT_NOFILE here; the defaults stand.
func fdLimit() uint64 { return 0 }
