package fakeworker

import (
	"errors"
	"syscall"
	"testing"
	"time"
)

// ProcessGone reports whether no process pid exists any more.
func ProcessGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// Eventually polls cond until it holds, failing t after within. Only for
// process state, which no event announces (a pid appearing or leaving).
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(within)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("%s: not true within %v", what, within)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
