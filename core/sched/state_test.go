package sched

import (
	"slices"
	"strings"
	"testing"
)

// A Job is submitted once: submitting it again, pending or finished, is
// refused, and leaves its first life as it was.
func TestSubmitTwiceIsRefused(t *testing.T) {
	tests := []struct {
		name string
		done bool
	}{
		{"while queued", false},
		{"once finished", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Config{})
			n := newFakeNode(s, "n")
			s.AddNode(n, 0)
			j := &Job{Args: []byte("x")}
			id := submit(t, s, j)
			if tt.done {
				s.SetCapacity(n, 1)
				n.done(n.next(t))
			}
			if _, err := s.Submit(j); err == nil || !strings.Contains(err.Error(), "submitted once") {
				t.Fatalf("second Submit: %v, want an error", err)
			}
			if j.ID != id {
				t.Errorf("second Submit changed the ID to %d", j.ID)
			}
			if got, want := s.Pending(), map[bool]int{false: 1, true: 0}[tt.done]; got != want {
				t.Errorf("Pending = %d, want %d", got, want)
			}
			if tt.done {
				wantResult(t, s, id, StatusDone, "done:x")
			} else if q := s.Queued(); !slices.Equal(q, []uint64{id}) {
				t.Errorf("Queued = %v, want [%d]", q, id)
			}
		})
	}
}

// A Job that never meets a scheduler (a ppserver runs its clients' jobs
// that way) stays new, and a report of it to a scheduler is ignored.
func TestReportOfAJobNeverSubmitted(t *testing.T) {
	s := New(Config{})
	n := newFakeNode(s, "n")
	s.AddNode(n, 1)
	id := submit(t, s, &Job{Args: []byte("mine")})
	mine := n.next(t)
	stranger := &Job{ID: id, Args: []byte("stranger")} // same ID, another job
	noPanic(t, "Finish of a stranger", func() { s.Finish(n, stranger, Outcome{Data: []byte("wrong")}) })
	if stranger.state != jobNew {
		t.Errorf("stranger's state %s, want new", stranger.state)
	}
	if _, ok := s.Result(id); ok {
		t.Fatal("a stranger's report completed a job of the same ID")
	}
	s.Finish(n, mine, Outcome{Data: []byte("right")})
	wantResult(t, s, id, StatusDone, "right")
}
