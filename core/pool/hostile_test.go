// Jobs that attack the worker protocol, knowingly or not: a child that
// outlives its worker with the pipes open, bytes written to the results
// pipe. The pool must notice, replace the worker and go on; never hang.

package pool

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ppgo/ppgo/core/internal/fakeworker"
)

// resolveWithin bounds how long a hostile job may take to come back lost:
// the pool should notice at once; this leaves room for a loaded machine.
const resolveWithin = 5 * time.Second

// A worker that dies while a child it forked still holds both its pipes is
// reported dead when its process exits, not when the pipes close (they do
// not): its job comes back lost with the exit described, a replacement
// runs the next job, and Close does not wait on the orphan's pipes.
func TestPoolWorkerDeathWithOrphanHoldingPipes(t *testing.T) {
	tests := []struct {
		args string
		want string
	}{
		{"orphan:1", "exited with code 1"},
		{"orphan:0", "exited with code 0"},
		{"orphan:kill", "killed by signal SIGKILL (9)"},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			h := newHarness(t, "echo", 1, nil)
			first := h.hub.NextStart(t)
			start := time.Now()
			j := h.dispatch(1, tt.args)
			h.lost(j, tt.want, fmt.Sprintf("worker process %d", first.PID))
			if el := time.Since(start); el > resolveWithin {
				t.Errorf("the worker's death was reported after %v", el)
			}
			orphan := h.hub.NextHold(t)
			if fakeworker.ProcessGone(orphan.PID) {
				t.Fatalf("orphan %d already gone: the test proves nothing", orphan.PID)
			}
			second := h.hub.NextStart(t)
			if rep := h.done(h.dispatch(1, "after")); rep.PID != second.PID {
				t.Errorf("next job ran on %d, want the replacement %d", rep.PID, second.PID)
			}
			start = time.Now()
			h.p.Close()
			if el := time.Since(start); el > closeGrace/2 {
				t.Errorf("Close took %v: a worker's goroutines are stuck on the orphan's pipes", el)
			}
			if fakeworker.ProcessGone(orphan.PID) {
				t.Errorf("orphan %d gone before the test let it go", orphan.PID)
			}
			orphan.Release()
		})
	}
}

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

// A worker whose results pipe ends while its process lives on can never
// report its jobs: it is killed after eofGrace, and the job comes back
// lost saying so.
func TestPoolWorkerThatClosesItsResultsPipe(t *testing.T) {
	h := newHarness(t, "echo", 1, nil)
	first := h.hub.NextStart(t)
	start := time.Now()
	err := h.lost(h.dispatch(1, "close-results"), fmt.Sprintf("worker process %d ended its results pipe but did not exit", first.PID))
	if el := time.Since(start); el < eofGrace || el > eofGrace+resolveWithin {
		t.Errorf("lost after %v, want about %v: %v", el, eofGrace, err)
	}
	second := h.hub.NextStart(t)
	if rep := h.done(h.dispatch(1, "after")); rep.PID != second.PID {
		t.Errorf("next job ran on %d, want the replacement %d", rep.PID, second.PID)
	}
	fakeworker.Eventually(t, deadline, "worker killed", func() bool { return fakeworker.ProcessGone(first.PID) })
}

// Once its worker has exited, the results pipe is read up to what it holds
// and no further, whoever holds the write end and whatever they write.
func TestExitedReader(t *testing.T) {
	tests := []struct {
		name    string
		before  int  // bytes in the pipe when the worker exits
		flood   bool // another process writes on and on
		wantMin int
		wantMax int
	}{
		{"empty pipe", 0, false, 0, 0},
		{"left in the pipe", 1000, false, 1000, 1000},
		{"a full pipe", 64 << 10, false, 64 << 10, 64 << 10},
		{"an orphan writing on", 1000, true, 1000, pipeBufferSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer pr.Close()
			defer pw.Close()
			if _, err := pw.Write(make([]byte, tt.before)); err != nil {
				t.Fatal(err)
			}
			stop := make(chan struct{})
			defer close(stop)
			if tt.flood {
				go func() {
					chunk := make([]byte, 4096)
					for {
						select {
						case <-stop:
							return
						default:
						}
						if _, err := pw.Write(chunk); err != nil {
							return
						}
					}
				}()
			}
			pr.SetReadDeadline(time.Now()) // as run does when the worker exits
			done := make(chan struct{})
			var n int64
			go func() {
				n, err = io.Copy(io.Discard, &exitedReader{f: pr})
				close(done)
			}()
			select {
			case <-done:
			case <-time.After(deadline):
				t.Fatal("reading past the worker's exit did not end")
			}
			if err != nil || n < int64(tt.wantMin) || n > int64(tt.wantMax) {
				t.Fatalf("read %d bytes, %v; want %d to %d, nil", n, err, tt.wantMin, tt.wantMax)
			}
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

// What a worker wrote before it exited is read, even when it exits at
// once and even when an orphan keeps the pipe open: the pool stops reading
// at the end of what is in the pipe, not before.
func TestPoolResultJustBeforeExit(t *testing.T) {
	pad := strings.Repeat("p", 3*pipeBufferSize) // the worker blocks on its write until the pool reads
	for _, args := range []string{"last:0", "last:4", "orphan-last:0", "last:0:" + pad, "orphan-last:0:" + pad} {
		t.Run(trunc([]byte(args)), func(t *testing.T) {
			h := newHarness(t, "echo", 1, nil)
			first := h.hub.NextStart(t)
			if rep := h.done(h.dispatch(1, args)); rep.PID != first.PID {
				t.Fatalf("ran on %d, want %d", rep.PID, first.PID)
			}
			second := h.hub.NextStart(t)
			if rep := h.done(h.dispatch(1, "after")); rep.PID != second.PID {
				t.Errorf("next job ran on %d, want the replacement %d", rep.PID, second.PID)
			}
			if strings.HasPrefix(args, "orphan") {
				h.hub.NextHold(t).Release()
			}
		})
	}
}
