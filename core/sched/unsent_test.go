package sched

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// A job a node hands back unsent (it never started it) goes back to the
// head of the queue without using up an attempt: a node that disconnects
// again and again must not fail jobs it never ran. Real losses still count.
func TestUnsentDoesNotCountAnAttempt(t *testing.T) {
	const maxAttempts = 2
	s := New(Config{MaxAttempts: maxAttempts})
	n := newFakeNode(s, "n")
	s.AddNode(n, 1)
	id := submit(t, s, &Job{Group: "g", Args: []byte("a")})
	behind := submit(t, s, &Job{Group: "g", Args: []byte("b")})

	for i := range maxAttempts + 1 {
		j := n.next(t)
		if j.ID != id {
			t.Fatalf("unsent round %d: dispatched job %d, want %d (an unsent job goes first)", i, j.ID, id)
		}
		n.finish(j, Outcome{Lost: errors.New("node not connected"), Unsent: true})
		if s.Wait(id, 0) {
			r, _ := s.Result(id)
			t.Fatalf("unsent round %d: job finished: %+v", i, r)
		}
	}
	// One real loss still leaves an attempt...
	j := n.next(t)
	if j.ID != id {
		t.Fatalf("after unsent rounds: dispatched job %d, want %d", j.ID, id)
	}
	n.lose(j, errors.New("connection broke"))
	if s.Wait(id, 0) {
		t.Fatal("job failed after one counted loss with MaxAttempts 2")
	}
	// ...and the second fails the job, naming two attempts, not five.
	j = n.next(t)
	if j.ID != id {
		t.Fatalf("retry: dispatched job %d, want %d", j.ID, id)
	}
	n.lose(j, errors.New("connection broke again"))
	r := wantResult(t, s, id, StatusFailed, "")
	if want := fmt.Sprintf("after %d attempts", maxAttempts); !strings.Contains(r.Message, want) {
		t.Errorf("message %q does not contain %q", r.Message, want)
	}

	// The job behind it was not disturbed, and an unsent job that finally
	// runs completes normally.
	j = n.next(t)
	if j.ID != behind {
		t.Fatalf("dispatched job %d, want %d", j.ID, behind)
	}
	n.finish(j, Outcome{Lost: errors.New("node not connected"), Unsent: true})
	n.done(n.next(t))
	wantResult(t, s, behind, StatusDone, "done:b")
	if st := s.Stats()[0]; st.Jobs != 1 || st.Running != 0 {
		t.Errorf("Stats = %+v, want 1 job done and none running", st)
	}
	if !s.WaitGroup("g", false, 0) || s.Pending() != 0 {
		t.Errorf("group still pending: %d", s.Pending())
	}
}

// MaxAttempts 1 is the edge: a job gets one try, and unsent hand-backs
// before that try do not spend it.
func TestUnsentWithSingleAttempt(t *testing.T) {
	s := New(Config{MaxAttempts: 1})
	n := newFakeNode(s, "n")
	s.AddNode(n, 1)
	id := submit(t, s, &Job{Args: []byte("x")})
	for range 5 {
		n.finish(n.next(t), Outcome{Lost: errors.New("unsent"), Unsent: true})
	}
	n.done(n.next(t))
	wantResult(t, s, id, StatusDone, "done:x")
}
