package sched

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

func TestWaitAndResult(t *testing.T) {
	s := New(Config{})
	n := newFakeNode(s, "n")
	s.AddNode(n, 1)
	id := submit(t, s, &Job{Args: []byte("x")})
	if _, ok := s.Result(id); ok {
		t.Fatal("Result before completion")
	}
	if s.Wait(id, 0) {
		t.Fatal("Wait(0) true before completion")
	}
	start := time.Now()
	if s.Wait(id, 20*time.Millisecond) {
		t.Fatal("Wait(20ms) true before completion")
	}
	if el := time.Since(start); el < 20*time.Millisecond {
		t.Fatalf("Wait(20ms) returned after %v", el)
	}
	forever := async(func() bool { return s.Wait(id, -1) })
	timed := async(func() bool { return s.Wait(id, time.Hour) })
	n.done(n.next(t))
	if !recv(t, "Wait(-1)", forever) || !recv(t, "Wait(1h)", timed) {
		t.Fatal("Wait returned false after completion")
	}
	if !s.Wait(id, 0) {
		t.Fatal("Wait(0) false after completion")
	}
	wantResult(t, s, id, StatusDone, "done:x")
	// The result stays until forgotten.
	wantResult(t, s, id, StatusDone, "done:x")
	s.Forget(id)
	if _, ok := s.Result(id); ok {
		t.Fatal("Result after Forget")
	}
	if !s.Wait(id, 0) || !s.Wait(12345, 0) {
		t.Fatal("an unknown job must count as finished")
	}
}

func TestWaitGroup(t *testing.T) {
	s := New(Config{})
	n := newFakeNode(s, "n")
	s.AddNode(n, 10)
	submitN(t, s, "a", 2)
	submitN(t, s, "b", 1)
	jobs := map[string][]*Job{}
	for range 3 {
		j := n.next(t)
		jobs[j.Group] = append(jobs[j.Group], j)
	}
	type check struct {
		group string
		all   bool
		want  bool
	}
	expect := func(step string, pending int, checks ...check) {
		t.Helper()
		for _, c := range checks {
			if got := s.WaitGroup(c.group, c.all, 0); got != c.want {
				t.Errorf("%s: WaitGroup(%q, all=%v) = %v, want %v", step, c.group, c.all, got, c.want)
			}
		}
		if p := s.Pending(); p != pending {
			t.Errorf("%s: Pending = %d, want %d", step, p, pending)
		}
	}
	expect("start", 3, check{"a", false, false}, check{"b", false, false},
		check{"", true, false}, check{"nope", false, true})

	waitA := async(func() bool { return s.WaitGroup("a", false, -1) })
	waitAll := async(func() bool { return s.WaitGroup("", true, time.Hour) })
	n.done(jobs["a"][0])
	expect("a half done", 2, check{"a", false, false}, check{"", true, false})
	n.done(jobs["a"][1])
	if !recv(t, "WaitGroup(a)", waitA) {
		t.Fatal("WaitGroup(a) false")
	}
	expect("a done", 1, check{"a", false, true}, check{"b", false, false}, check{"", true, false})
	n.done(jobs["b"][0])
	if !recv(t, "WaitGroup(all)", waitAll) {
		t.Fatal("WaitGroup(all) false")
	}
	expect("all done", 0, check{"a", false, true}, check{"b", false, true}, check{"", true, true})

	// A group that empties and fills again is pending again.
	submitN(t, s, "a", 1)
	expect("a again", 1, check{"a", false, false}, check{"", true, false})
	if s.WaitGroup("a", false, 10*time.Millisecond) {
		t.Fatal("WaitGroup(a, 10ms) true with a job running")
	}
	n.done(n.next(t))
	expect("a again done", 0, check{"a", false, true}, check{"", true, true})
}

func TestNotify(t *testing.T) {
	s := New(Config{})
	n := newFakeNode(s, "n")
	s.AddNode(n, 10)
	if ids, ok := s.NextNotified(10, 0); len(ids) != 0 || !ok {
		t.Fatalf("NextNotified on an idle scheduler = %v, %v", ids, ok)
	}
	if ids, ok := s.NextNotified(10, 10*time.Millisecond); len(ids) != 0 || !ok {
		t.Fatalf("NextNotified(10ms) with nothing done = %v, %v", ids, ok)
	}
	type next struct {
		ids []uint64
		ok  bool
	}
	waiting := async(func() next { ids, ok := s.NextNotified(10, time.Hour); return next{ids, ok} })

	var notify []uint64
	for i := range 3 {
		notify = append(notify, submit(t, s, &Job{Group: "cb", Notify: true, Args: []byte(fmt.Sprint(i))}))
	}
	plain := submit(t, s, &Job{Group: "cb"})
	jobs := map[uint64]*Job{}
	for range 4 {
		j := n.next(t)
		jobs[j.ID] = j
	}
	n.done(jobs[plain])
	n.done(jobs[notify[0]])
	got := recv(t, "NextNotified", waiting)
	if !got.ok || !slices.Equal(got.ids, notify[:1]) {
		t.Fatalf("NextNotified = %v, %v; want %v (a plain job is never notified)", got.ids, got.ok, notify[:1])
	}
	n.done(jobs[notify[1]])
	n.done(jobs[notify[2]])
	if ids, _ := s.NextNotified(1, 0); !slices.Equal(ids, notify[1:2]) {
		t.Fatalf("NextNotified(max 1) = %v, want %v", ids, notify[1:2])
	}
	if ids, _ := s.NextNotified(10, 0); !slices.Equal(ids, notify[2:]) {
		t.Fatalf("NextNotified = %v, want %v", ids, notify[2:])
	}

	// Completed but not released: the result is there, the job is not finished.
	id := notify[0]
	wantResult(t, s, id, StatusDone, "done:0")
	if s.Wait(id, 0) {
		t.Fatal("a notify job is finished before Release")
	}
	if s.WaitGroup("cb", false, 0) || s.Pending() != 3 {
		t.Fatalf("before Release: WaitGroup true or Pending %d != 3", s.Pending())
	}
	waitJob := async(func() bool { return s.Wait(id, -1) })
	s.Release(id)
	if !recv(t, "Wait until Release", waitJob) {
		t.Fatal("Wait false after Release")
	}
	if _, ok := s.Result(id); ok {
		t.Error("Release keeps the result; it should forget the job")
	}
	if p := s.Pending(); p != 2 {
		t.Errorf("Pending = %d after one Release, want 2", p)
	}
	s.Release(id) // twice is harmless
	s.Release(notify[1])
	s.Release(notify[2])
	if !s.WaitGroup("cb", false, 0) || s.Pending() != 0 {
		t.Errorf("after every Release: WaitGroup false or Pending %d", s.Pending())
	}
	// Release before completion does nothing.
	late := submit(t, s, &Job{Notify: true})
	s.Release(late)
	if s.Wait(late, 0) || s.Pending() != 1 {
		t.Error("Release of a running job finished it")
	}
}

func TestForget(t *testing.T) {
	tests := []struct {
		name   string
		notify bool
		lose   bool // the first attempt is lost after Forget
	}{
		{"plain", false, false},
		{"notify", true, false},
		{"lost then done", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Config{})
			n := newFakeNode(s, "n")
			s.AddNode(n, 1)
			id := submit(t, s, &Job{Group: "g", Notify: tt.notify})
			other := submit(t, s, &Job{Group: "h"}) // queued behind
			j := n.next(t)
			s.Forget(id)
			if s.WaitGroup("g", false, 0) {
				t.Fatal("Forget finished a running job's group")
			}
			if tt.lose {
				n.lose(j, errors.New("gone"))
				j = n.next(t)
				if j.ID != id {
					t.Fatalf("retry dispatched job %d, want %d", j.ID, id)
				}
			}
			n.done(j)
			if _, ok := s.Result(id); ok {
				t.Error("a forgotten job kept its result")
			}
			if !s.WaitGroup("g", false, 0) {
				t.Error("group still pending after its forgotten job finished")
			}
			if ids, _ := s.NextNotified(10, 0); len(ids) != 0 {
				t.Errorf("forgotten job notified: %v", ids)
			}
			if p := s.Pending(); p != 1 {
				t.Errorf("Pending = %d, want 1 (the other job)", p)
			}
			n.done(n.next(t))
			wantResult(t, s, other, StatusDone, "done:")
			s.Forget(other)
			s.Forget(other)
			if p := s.Pending(); p != 0 {
				t.Errorf("Pending = %d after forgetting a finished job, want 0", p)
			}
		})
	}
}

func TestClose(t *testing.T) {
	s := New(Config{})
	n := newFakeNode(s, "n")
	s.AddNode(n, 1)
	running := submit(t, s, &Job{Group: "g"})
	queued := submit(t, s, &Job{Group: "g"})
	forgotten := submit(t, s, &Job{Group: "g"})
	s.Forget(forgotten)
	j := n.next(t)

	waitRunning := async(func() bool { return s.Wait(running, -1) })
	waitQueued := async(func() bool { return s.Wait(queued, -1) })
	waitAll := async(func() bool { return s.WaitGroup("", true, -1) })
	type next struct {
		ids []uint64
		ok  bool
	}
	notified := async(func() next { ids, ok := s.NextNotified(10, time.Hour); return next{ids, ok} })

	within(t, "Close", s.Close)
	if !recv(t, "Wait(running)", waitRunning) || !recv(t, "Wait(queued)", waitQueued) {
		t.Fatal("Wait false after Close")
	}
	if !recv(t, "WaitGroup(all)", waitAll) {
		t.Fatal("WaitGroup false after Close")
	}
	if got := recv(t, "NextNotified", notified); got.ok || len(got.ids) != 0 {
		t.Fatalf("NextNotified after Close = %v, %v; want nil, false", got.ids, got.ok)
	}
	if ids, ok := s.NextNotified(10, time.Hour); ok || len(ids) != 0 {
		t.Fatalf("NextNotified on a closed scheduler = %v, %v", ids, ok)
	}
	for _, id := range []uint64{running, queued} {
		r := wantResult(t, s, id, StatusCancelled, "")
		if r.Message == "" {
			t.Errorf("job %d cancelled without a message", id)
		}
	}
	if _, ok := s.Result(forgotten); ok {
		t.Error("a forgotten job has a result after Close")
	}
	if p := s.Pending(); p != 0 {
		t.Errorf("Pending = %d after Close", p)
	}
	if _, err := s.Submit(&Job{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Submit after Close: %v, want ErrClosed", err)
	}

	// The node reports the job it was running after all: the cancellation
	// stands, the slot is freed, nothing new is dispatched.
	n.done(j)
	n.none(t)
	wantResult(t, s, running, StatusCancelled, "")
	if st := s.Stats()[0]; st.Running != 0 {
		t.Errorf("Running = %d after the node reported", st.Running)
	}
	s.SetCapacity(n, 5)
	n.none(t)
	within(t, "second Close", s.Close)
}

// A notify job that completed before Close keeps its result and counts as
// finished, but its notification is dropped: the client runs no callback
// for a destroyed server.
func TestCloseDropsNotifications(t *testing.T) {
	s := New(Config{})
	n := newFakeNode(s, "n")
	s.AddNode(n, 1)
	id := submit(t, s, &Job{Group: "cb", Notify: true, Args: []byte("r")})
	n.done(n.next(t))
	s.Close()
	if ids, ok := s.NextNotified(10, 0); ok || len(ids) != 0 {
		t.Errorf("NextNotified after Close = %v, %v; want nil, false", ids, ok)
	}
	if !s.Wait(id, 0) || !s.WaitGroup("cb", false, 0) {
		t.Error("a completed notify job is not finished after Close")
	}
	wantResult(t, s, id, StatusDone, "done:r")
}

// Release after Close must not panic: the client's callback thread may take
// a notified job just before the server is destroyed and release it after.
func TestReleaseAfterClose(t *testing.T) {
	s := New(Config{})
	n := newFakeNode(s, "n")
	s.AddNode(n, 1)
	id := submit(t, s, &Job{Notify: true})
	n.done(n.next(t))
	if ids, _ := s.NextNotified(1, 0); !slices.Equal(ids, []uint64{id}) {
		t.Fatalf("NextNotified = %v, want [%d]", ids, id)
	}
	s.Close()
	noPanic(t, "Release after Close", func() { s.Release(id) })
	if p := s.Pending(); p != 0 {
		t.Errorf("Pending = %d, want 0", p)
	}
}

// Release of a job that was not submitted with Notify must not panic nor
// count the job out of its group a second time.
func TestReleaseOfPlainJob(t *testing.T) {
	s := New(Config{})
	n := newFakeNode(s, "n")
	s.AddNode(n, 2)
	id := submit(t, s, &Job{Group: "g"})
	submit(t, s, &Job{Group: "g"}) // keeps the group busy
	n.done(n.next(t))
	noPanic(t, "Release of a plain job", func() { s.Release(id) })
	if p := s.Pending(); p != 1 {
		t.Errorf("Pending = %d, want 1", p)
	}
	if s.WaitGroup("g", false, 0) {
		t.Error("group idle while one of its jobs is still running")
	}
}

// Watch turns a plain job into one the client is notified of, while it has
// not finished; a finished, forgotten or unknown job is not watched.
func TestWatch(t *testing.T) {
	s := New(Config{})
	n := newFakeNode(s, "n")
	s.AddNode(n, 1)
	ids := submitN(t, s, "", 3) // 1 sent, 2 queued
	for _, id := range ids {
		if !s.Watch(id) {
			t.Fatalf("Watch(%d) of an unfinished job = false", id)
		}
	}
	n.done(n.next(t))
	if got, _ := s.NextNotified(10, deadline); !slices.Equal(got, ids[:1]) {
		t.Fatalf("NextNotified = %v, want [%d]", got, ids[0])
	}
	if s.Wait(ids[0], 0) {
		t.Fatal("a watched job finished before its Release")
	}
	if !s.Watch(ids[0]) {
		t.Fatal("Watch of a notified job = false")
	}
	s.Release(ids[0])
	plain := submit(t, s, &Job{})
	n.done(n.next(t))
	n.done(n.next(t))
	n.done(n.next(t))
	if s.Watch(plain) {
		t.Fatal("Watch of a finished plain job = true")
	}
	s.Forget(plain)
	if s.Watch(plain) || s.Watch(12345) {
		t.Fatal("Watch of a forgotten or unknown job = true")
	}
	late := submit(t, s, &Job{})
	s.Close()
	if s.Watch(late) {
		t.Fatal("Watch after Close = true")
	}
}

// Signal hands out a job's ID once it is finished (a Notify job: once
// Released), and calls onSignal only when the list stops being empty, so a
// reader that takes everything on each call is woken once per batch. Close
// signals the jobs it ends, then never calls onSignal again.
func TestSignal(t *testing.T) {
	s := New(Config{})
	n := newFakeNode(s, "n")
	s.AddNode(n, 10)
	var wakes atomic.Int32
	s.SetSignal(func() { wakes.Add(1) })

	plain := submitN(t, s, "", 3)
	notify := submit(t, s, &Job{Notify: true})
	unsignalled := submit(t, s, &Job{})
	jobs := map[uint64]*Job{}
	for range 5 {
		j := n.next(t)
		jobs[j.ID] = j
	}
	for _, id := range append(plain, notify) {
		if !s.Signal(id) {
			t.Fatalf("Signal(%d) of a running job = false", id)
		}
	}
	if got := s.TakeSignalled(10); len(got) != 0 {
		t.Fatalf("TakeSignalled before anything finished = %v", got)
	}
	n.done(jobs[unsignalled])
	n.done(jobs[plain[1]])
	n.done(jobs[plain[0]])
	if w := wakes.Load(); w != 1 {
		t.Fatalf("onSignal called %d times for two finished jobs not yet taken, want 1", w)
	}
	if got := s.TakeSignalled(1); !slices.Equal(got, plain[1:2]) {
		t.Fatalf("TakeSignalled(1) = %v, want %v (oldest first)", got, plain[1:2])
	}
	if got := s.TakeSignalled(10); !slices.Equal(got, plain[:1]) {
		t.Fatalf("TakeSignalled = %v, want %v", got, plain[:1])
	}

	n.done(jobs[notify])
	if got := s.TakeSignalled(10); len(got) != 0 {
		t.Fatalf("TakeSignalled = %v before the Notify job's Release", got)
	}
	s.NextNotified(10, 0)
	s.Release(notify)
	if got := s.TakeSignalled(10); !slices.Equal(got, []uint64{notify}) || wakes.Load() != 2 {
		t.Fatalf("after Release: TakeSignalled = %v with %d wakes, want [%d] and 2", got, wakes.Load(), notify)
	}
	if s.Signal(plain[0]) || s.Signal(12345) {
		t.Fatal("Signal of a finished or unknown job = true")
	}

	// A replaced function is not called again; Close signals what it ends.
	var after atomic.Int32
	s.SetSignal(func() { after.Add(1) })
	if !s.Signal(plain[2]) {
		t.Fatal("Signal again of a running job = false")
	}
	s.Close()
	if got := s.TakeSignalled(10); !slices.Equal(got, plain[2:]) || after.Load() != 1 || wakes.Load() != 2 {
		t.Fatalf("after Close: TakeSignalled = %v, wakes old %d new %d; want %v, 2, 1",
			got, wakes.Load(), after.Load(), plain[2:])
	}
	s.SetSignal(func() { t.Error("onSignal set after Close was called") })
	if s.Signal(plain[2]) {
		t.Fatal("Signal after Close = true")
	}
}
