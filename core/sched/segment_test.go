package sched

import (
	"errors"
	"testing"

	"github.com/ppgo/ppgo/core/shm"
)

func newSegment(t *testing.T, s string) *shm.Segment {
	t.Helper()
	seg, err := shm.FromBytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seg.Close() })
	return seg
}

// closed reports whether seg has been closed.
func closed(seg *shm.Segment) bool {
	return seg.Control(func(int) error { return nil }) != nil
}

// The scheduler owns a job's argument segment until the job completes
// (a lost job is sent again with it), and a result's segment until the
// client forgets the job; a report nobody waits for frees its segment.
func TestSegmentsAreFreedWhenTheirJobIsDone(t *testing.T) {
	s := New(Config{})
	n := newFakeNode(s, "n")
	s.AddNode(n, 1)

	args := newSegment(t, "arguments")
	id := submit(t, s, &Job{Args: []byte("a"), Segment: args})
	j := n.next(t)
	n.lose(j, errors.New("worker died"))
	j = n.next(t)
	if closed(args) {
		t.Fatal("the argument segment was freed before the retry")
	}
	result := newSegment(t, "result")
	n.finish(j, Outcome{Data: []byte("r"), Segment: result})
	if !closed(args) {
		t.Error("the argument segment outlived its job")
	}
	r, ok := s.Result(id)
	if !ok || r.Segment != result || closed(result) {
		t.Fatalf("result %+v, %v: want its segment, open", r, ok)
	}
	s.Forget(id)
	if !closed(result) {
		t.Error("the result segment outlived Forget")
	}

	// Cancelled before it ran: the argument segment goes with it.
	n.setAnswer(Withdrawn)
	blocker := submit(t, s, &Job{Args: []byte("b")})
	queued := newSegment(t, "queued")
	qid := submit(t, s, &Job{Args: []byte("q"), Segment: queued})
	if !s.Cancel(qid) || !closed(queued) {
		t.Error("a cancelled job kept its argument segment")
	}

	// A stale report (the job was cancelled while on the node) frees the
	// segment it brings.
	bj := n.next(t)
	n.setAnswer(Abandoned)
	if !s.Cancel(blocker) {
		t.Fatal("cancel of a sent job refused")
	}
	stale := newSegment(t, "stale")
	n.finish(bj, Outcome{Data: []byte("late"), Segment: stale})
	if !closed(stale) {
		t.Error("a stale report's segment was kept")
	}

	// Submitted to a closed scheduler: refused, and its segment freed.
	s.Close()
	late := newSegment(t, "late")
	if _, err := s.Submit(&Job{Segment: late}); !errors.Is(err, ErrClosed) || !closed(late) {
		t.Errorf("Submit after Close: %v, segment closed %v", err, closed(late))
	}
}
