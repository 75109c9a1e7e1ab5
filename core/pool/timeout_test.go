package pool

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ppgo/ppgo/core/internal/fakeworker"
	"github.com/ppgo/ppgo/core/sched"
)

// shortTimeout is the timeout of the jobs meant to run out of time: short,
// so the tests are quick, and far from the deadline of every wait.
const shortTimeout = 150 * time.Millisecond

// A job that runs past its timeout has its worker killed and replaced, and
// is reported timed out, naming its limit; the jobs waiting behind it in
// the worker's pipe had not started: they are lost unsent, to be run again
// at no cost of an attempt. A job that ends in time is not touched.
func TestTimeout(t *testing.T) {
	tests := []struct {
		name    string
		args    string        // the job with the timeout
		timeout time.Duration // its timeout
		behind  int           // jobs piped behind it
		timeOut bool          // it must time out
	}{
		{"running past its timeout", "hang", shortTimeout, 0, true},
		{"the jobs behind it are lost, not timed out", "hang", shortTimeout, 2, true},
		{"ending in time", "sleep:10ms", 10 * time.Second, 0, false},
		{"no timeout", "sleep:300ms", 0, 0, false},
		{"ending in time with jobs behind", "sleep:10ms", 10 * time.Second, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "echo", 1, nil)
			first := h.hub.NextStart(t)
			j := h.newJob(1, tt.args, tt.timeout)
			h.p.Dispatch(j)
			var behind []*sched.Job
			for i := range tt.behind {
				b := h.newJob(1, fmt.Sprint("behind ", i), 10*time.Second)
				h.pipe(b)
				behind = append(behind, b)
			}
			if !tt.timeOut {
				h.done(j)
				for _, b := range behind {
					h.done(b)
				}
				if pids := h.p.PIDs(); !slices.Equal(pids, []int{first.PID}) {
					t.Errorf("workers %v after jobs in time, want the first, %d", pids, first.PID)
				}
				return
			}
			start := time.Now()
			h.timedOut(j)
			if el := time.Since(start); el < tt.timeout {
				t.Errorf("timed out after %v, before its %v", el, tt.timeout)
			}
			for _, b := range behind {
				r := h.next()
				if r.job != b || !r.out.Unsent || r.out.TimedOut || r.out.Lost == nil {
					t.Fatalf("job behind: %d %+v, want job %d lost unsent", r.job.ID, r.out, b.ID)
				}
				want := fmt.Sprintf("worker process %d was killed: job %d ran longer than its %v timeout", first.PID, j.ID, tt.timeout)
				if r.out.Lost.Error() != want {
					t.Errorf("job behind lost with %q, want %q", r.out.Lost, want)
				}
			}
			if !fakeworker.ProcessGone(first.PID) { // reaped before its jobs were reported
				t.Errorf("the timed-out job's worker %d still exists", first.PID)
			}
			next := h.hub.NextStart(t) // its replacement
			if next.PID == first.PID {
				t.Fatalf("replacement has the killed worker's pid %d", next.PID)
			}
			if rep := h.done(h.dispatch(1, "after")); rep.PID != next.PID {
				t.Errorf("next job ran on %d, want the replacement %d", rep.PID, next.PID)
			}
		})
	}
}

// A job's clock starts when a worker starts it: not while it waits in the
// pipe behind a running job, nor while its worker's interpreter starts.
// Each job here waits three times its timeout before it starts, and then
// runs well within it; once started, its clock does run.
func TestTimeoutClockStartsWithTheJob(t *testing.T) {
	tests := []struct {
		name  string
		mode  string
		setup func(h *harness, j *sched.Job) (start func())
	}{
		{"behind a running job", "echo", func(h *harness, j *sched.Job) func() {
			h.hub.NextStart(h.t)
			h.dispatch(1, "block") // a long job, so j waits behind it
			blocked := h.hub.NextBlock(h.t)
			h.pipe(j)
			return func() {
				blocked.Release()
				h.next() // the blocking job's result
			}
		}},
		{"while its worker starts", "slow-start", func(h *harness, j *sched.Job) func() {
			starting := h.hub.NextStart(h.t) // waits for Release to say READY
			h.p.Dispatch(j)
			return starting.Release
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, args := range []string{"in time", "hang"} {
				h := newHarness(t, tt.mode, 1, nil)
				j := h.newJob(1, args, shortTimeout)
				start := tt.setup(h, j)
				time.Sleep(3 * shortTimeout) // time passing is the test: the clock must not run
				h.none()
				if pids := h.p.PIDs(); len(pids) != 1 || fakeworker.ProcessGone(pids[0]) {
					t.Fatalf("%s: the waiting job's worker was killed: %v", args, pids)
				}
				start()
				if args == "hang" {
					h.timedOut(j) // the clock runs once the job starts
				} else {
					h.done(j)
				}
			}
		})
	}
}

// A clock that runs out just after its job's result was read (the two
// crossed) kills nothing: the worker lives on, running the next job.
func TestTimeoutAfterTheResultKillsNothing(t *testing.T) {
	h := newHarness(t, "echo", 1, nil)
	first := h.hub.NextStart(t)
	j := h.newJob(1, "quick", time.Hour)
	h.p.Dispatch(j)
	h.done(j)
	next := h.dispatch(1, "block")
	blocked := h.hub.NextBlock(t)
	h.p.mu.Lock()
	w := h.p.workers[0]
	h.p.mu.Unlock()
	h.p.expire(w, j) // what j's clock would call, late
	blocked.Release()
	if rep := h.done(next); rep.PID != first.PID {
		t.Errorf("next job ran on %d, want the first worker %d", rep.PID, first.PID)
	}
	h.none()
}
