// Jobs that attack the worker protocol, knowingly or not: bytes written to
// the results pipe. The pool must notice, replace the worker and go on;
// never hang.

package pool

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ppgo/ppgo/core/internal/fakeworker"
)

// resolveWithin bounds how long a hostile job may take to come back lost:
// the pool should notice at once; this leaves room for a loaded machine.
const resolveWithin = 5 * time.Second

// A worker whose frames break the protocol is killed and replaced; its job
// comes back lost with what was wrong, before the pool allocates what a
// bad header announces or waits for a body that will never come.
func TestPoolBadFrames(t *testing.T) {
	tests := []struct {
		args string
		want []string
	}{
		{"bad-kind", []string{"sent a frame of kind 99"}},
		{"frame:99:0", []string{"sent a frame of kind 99"}},
		{"frame:1:0", []string{"sent a frame of kind 1"}},
		{"frame:16:5", []string{"READY frame", "5-byte body"}},
		// "junk" read as a length: what a job's os.write(4, b"junk") announced.
		{"frame:17:1802401113", []string{"announced a 1802401113-byte result (1.7 GiB)", "over the 1 GiB limit"}},
		{"frame:17:4294967278", []string{"announced a 4294967278-byte result (4 GiB)", "over the 1 GiB limit"}},
		// The junk shifts the real header by four bytes: whatever it then
		// says, the pool must see through it.
		{"junk:junk", []string{"worker process"}},
		{"junk:\x11", []string{"worker process"}},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			h := newHarness(t, "echo", 1, nil)
			first := h.hub.NextStart(t)
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			j := h.dispatch(1, tt.args)
			err := h.lost(j, append(tt.want, fmt.Sprintf("worker process %d", first.PID))...)
			t.Logf("lost: %v", err)
			if el := time.Since(start); el > resolveWithin {
				t.Errorf("the bad frame was noticed after %v", el)
			}
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			if n := after.TotalAlloc - before.TotalAlloc; n > 64<<20 {
				t.Errorf("the pool allocated %d MiB for a bad frame", n>>20)
			}
			if strings.Contains(err.Error(), "SIGKILL") {
				t.Errorf("lost with %q: the pool's own kill, not what was wrong", err)
			}
			second := h.hub.NextStart(t)
			if rep := h.done(h.dispatch(1, "after")); rep.PID != second.PID {
				t.Errorf("next job ran on %d, want the replacement %d", rep.PID, second.PID)
			}
			fakeworker.Eventually(t, deadline, "broken worker killed", func() bool { return fakeworker.ProcessGone(first.PID) })
		})
	}
}

// Config.MaxResult bounds what a worker may send back: a result over it
// fails its job, one under it passes.
func TestPoolMaxResult(t *testing.T) {
	const limit = 400 // a reply carries its args, plus about 100 bytes
	h := newHarness(t, "echo", 1, func(c *Config) { c.MaxResult = limit })
	first := h.hub.NextStart(t)
	h.done(h.dispatch(1, strings.Repeat("s", limit/2)))
	h.lost(h.dispatch(1, strings.Repeat("L", limit)), fmt.Sprintf("worker process %d announced a ", first.PID),
		"over the 400 bytes limit")
	h.done(h.dispatch(1, "small again"))
}
