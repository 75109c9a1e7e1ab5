// Test doubles for the scheduler: nodes the test drives by hand or that
// complete jobs synchronously, and helpers that wait with a deadline.

package sched

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// deadline bounds every wait for something that should happen at once.
const deadline = 5 * time.Second

// fakeNode records every job it is dispatched on a channel and lets the test
// finish them. Dispatch happens synchronously inside Submit, Finish,
// SetCapacity and AddNode, so once those return the channel holds every job
// they dispatched: "nothing was dispatched" is checked without waiting.
type fakeNode struct {
	name string
	s    *Scheduler
	jobs chan *Job

	mu          sync.Mutex
	inflight    int
	maxInflight int
	answer      CancelResult // what Cancel answers
	cancels     []*Job       // every job Cancel was asked about
	unlocked    int          // Cancel calls made without the scheduler's lock
}

func newFakeNode(s *Scheduler, name string) *fakeNode {
	return &fakeNode{name: name, s: s, jobs: make(chan *Job, 4096)}
}

func (n *fakeNode) Name() string { return n.name }

func (n *fakeNode) Dispatch(j *Job) {
	n.mu.Lock()
	n.inflight++
	n.maxInflight = max(n.maxInflight, n.inflight)
	n.mu.Unlock()
	n.jobs <- j
}

// Cancel answers what the test set in answer. A withdrawn job is one the
// node will not report. It checks the scheduler holds its lock, as
// Node.Cancel promises, so that no report can cross the answer.
func (n *fakeNode) Cancel(j *Job) CancelResult {
	if n.s.mu.TryLock() {
		n.s.mu.Unlock()
		n.mu.Lock()
		n.unlocked++
		n.mu.Unlock()
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cancels = append(n.cancels, j)
	if n.answer == Withdrawn {
		n.inflight--
	}
	return n.answer
}

// setAnswer sets what Cancel answers from now on.
func (n *fakeNode) setAnswer(a CancelResult) {
	n.mu.Lock()
	n.answer = a
	n.mu.Unlock()
}

// finish reports j's outcome the way a node does.
func (n *fakeNode) finish(j *Job, o Outcome) {
	n.mu.Lock()
	n.inflight--
	n.mu.Unlock()
	n.s.Finish(n, j, o)
}

func (n *fakeNode) done(j *Job)            { n.finish(j, Outcome{Data: append([]byte("done:"), j.Args...)}) }
func (n *fakeNode) lose(j *Job, err error) { n.finish(j, Outcome{Lost: err}) }

// next returns the next job dispatched to n.
func (n *fakeNode) next(t *testing.T) *Job {
	t.Helper()
	select {
	case j := <-n.jobs:
		return j
	case <-time.After(deadline):
		t.Fatalf("node %s: no job dispatched within %v", n.name, deadline)
		return nil
	}
}

// none fails if n has been dispatched a job it has not taken yet.
func (n *fakeNode) none(t *testing.T) {
	t.Helper()
	select {
	case j := <-n.jobs:
		t.Fatalf("node %s: unexpected dispatch of job %d (%q)", n.name, j.ID, j.Args)
	default:
	}
}

func (n *fakeNode) max() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.maxInflight
}

func submit(t *testing.T, s *Scheduler, j *Job) uint64 {
	t.Helper()
	id, err := s.Submit(j)
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	return id
}

func submitN(t *testing.T, s *Scheduler, group string, n int) []uint64 {
	t.Helper()
	var ids []uint64
	for i := range n {
		ids = append(ids, submit(t, s, &Job{Group: group, Args: []byte(fmt.Sprint(i))}))
	}
	return ids
}

// within runs f on a goroutine and fails if it does not return in time:
// the way to catch a deadlock without hanging the test binary.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(deadline):
		t.Fatalf("%s did not return within %v (deadlock?)", what, deadline)
	}
}

// async runs f on a goroutine; the returned channel yields its result.
func async[T any](f func() T) <-chan T {
	ch := make(chan T, 1)
	go func() { ch <- f() }()
	return ch
}

func recv[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(deadline):
		t.Fatalf("%s: still blocked after %v", what, deadline)
		var zero T
		return zero
	}
}

func wantResult(t *testing.T, s *Scheduler, id uint64, status Status, data string) Result {
	t.Helper()
	r, ok := s.Result(id)
	if !ok {
		t.Fatalf("Result(%d): no result", id)
	}
	if r.Status != status {
		t.Fatalf("Result(%d).Status = %d, want %d (message %q)", id, r.Status, status, r.Message)
	}
	if status == StatusDone && string(r.Data) != data {
		t.Fatalf("Result(%d).Data = %q, want %q", id, r.Data, data)
	}
	return r
}

func noPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if v := recover(); v != nil {
			t.Errorf("%s panicked: %v", what, v)
		}
	}()
	f()
}

// syncNode completes every job inside Dispatch, on the scheduler's
// calling goroutine; it loses each job's first attempt when lose is set.
type syncNode struct {
	s     *Scheduler
	lose  bool
	mu    sync.Mutex
	tried map[uint64]bool
}

func (n *syncNode) Name() string { return "sync" }

func (n *syncNode) Cancel(*Job) CancelResult { return NotCancelled }

func (n *syncNode) Dispatch(j *Job) {
	n.mu.Lock()
	first := !n.tried[j.ID]
	n.tried[j.ID] = true
	n.mu.Unlock()
	if n.lose && first {
		n.s.Finish(n, j, Outcome{Lost: errors.New("first attempt lost")})
		return
	}
	n.s.Finish(n, j, Outcome{Data: j.Args})
}
