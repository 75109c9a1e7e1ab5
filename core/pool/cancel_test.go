package pool

import (
	"slices"
	"testing"

	"github.com/ppgo/ppgo/core/sched"
)

// Cancel withdraws a job still in the backlog: it is never reported, and
// no worker ever reads it. A job a worker has been handed, running or
// waiting in its pipe, runs to the end and is reported.
func TestCancel(t *testing.T) {
	h := newHarness(t, "record", 1, nil)
	h.hub.NextStart(t)
	running := h.dispatch(1, "block")
	blocked := h.hub.NextBlock(t)
	backlog := h.dispatch(1, "in the backlog") // the one worker is busy with a long job
	piped := h.newJob(1, "in the pipe", 0)
	h.pipe(piped)
	stranger := h.newJob(1, "never dispatched", 0)
	if w := h.p.Waiting(); !slices.Equal(w, []uint64{backlog.ID, piped.ID}) {
		t.Fatalf("Waiting = %v, want [%d %d]", w, backlog.ID, piped.ID)
	}

	for _, tt := range []struct {
		name string
		job  *sched.Job
		want sched.CancelResult
	}{
		{"running", running, sched.NotCancelled},
		{"in a worker's pipe", piped, sched.NotCancelled},
		{"in the backlog", backlog, sched.Withdrawn},
		{"withdrawn already", backlog, sched.NotCancelled},
		{"never dispatched", stranger, sched.NotCancelled},
	} {
		if got := h.p.Cancel(tt.job); got != tt.want {
			t.Errorf("Cancel of a job %s = %v, want %v", tt.name, got, tt.want)
		}
	}
	if w := h.p.Waiting(); !slices.Equal(w, []uint64{piped.ID}) {
		t.Errorf("Waiting after Cancel = %v, want [%d]", w, piped.ID)
	}

	blocked.Release()
	h.done(running)
	h.done(piped)
	after := h.dispatch(1, "after")
	h.done(after)
	h.none() // nothing for the withdrawn job
	var ran []string
	for _, e := range h.hub.Ran() {
		ran = append(ran, e.Args)
	}
	if want := []string{"block", "in the pipe", "after"}; !slices.Equal(ran, want) {
		t.Errorf("the worker read %q, want %q", ran, want)
	}
}
