package sched

import (
	"testing"
	"time"
	"unsafe"
)

// A client may hold a million queued jobs: every byte of a Job's record is
// a megabyte of its memory. 144 is the size class the record fits now.
func TestJobRecordStaysSmall(t *testing.T) {
	const limit = 144
	if size := unsafe.Sizeof(Job{}); size > limit {
		t.Fatalf("sched.Job is %d bytes, over %d: reorder or drop fields", size, limit)
	}
}

// A job gets a channel only when someone waits for it to finish; one that
// is never waited for, the common case, finishes without.
func TestOnlyWaitedJobsGetAChannel(t *testing.T) {
	s := New(Config{})
	n := newFakeNode(s, "n")
	s.AddNode(n, 2)
	quiet := submit(t, s, &Job{Args: []byte("q")})
	waited := submit(t, s, &Job{Args: []byte("w")})
	first, second := n.next(t), n.next(t)
	if s.Wait(waited, 0) {
		t.Fatal("Wait(0) true before completion")
	}
	// A wait that blocks, however briefly, makes the channel.
	if s.Wait(waited, time.Nanosecond) {
		t.Fatal("Wait(1ns) true before completion")
	}
	for _, j := range []*Job{first, second} {
		n.done(j)
	}
	if !s.Wait(waited, -1) || !s.Wait(quiet, -1) {
		t.Fatal("Wait returned false after completion")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if j := s.jobs[quiet]; j.done != nil {
		t.Errorf("job %d was never waited for, yet has a channel", quiet)
	}
	if j := s.jobs[waited]; j.done == nil {
		t.Errorf("job %d was waited for and has no channel", waited)
	}
}
