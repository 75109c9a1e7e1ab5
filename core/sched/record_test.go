package sched

import (
	"maps"
	"slices"
	"testing"
	"time"
	"unsafe"
)

// A client may hold a million queued jobs: every byte of a Job's record is
// a megabyte of its memory. 128 bytes is a size class of Go's allocator
// (112 was, before the pointers to the arguments' and the result's
// shared-memory segments).
func TestJobRecordStaysSmall(t *testing.T) {
	const limit = 128
	if size := unsafe.Sizeof(Job{}); size > limit {
		t.Fatalf("sched.Job is %d bytes, over %d: reorder or drop fields", size, limit)
	}
}

// A job gets a channel only when someone waits for it to finish, and
// only until it does; one that is never waited for, the common case, has
// none.
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
	waiting := func() []uint64 {
		s.mu.Lock()
		defer s.mu.Unlock()
		return slices.Sorted(maps.Keys(s.waiters))
	}
	if got := waiting(); !slices.Equal(got, []uint64{waited}) {
		t.Fatalf("channels for jobs %v, want one for job %d only", got, waited)
	}
	for _, j := range []*Job{first, second} {
		n.done(j)
	}
	if !s.Wait(waited, -1) || !s.Wait(quiet, -1) {
		t.Fatal("Wait returned false after completion")
	}
	if got := waiting(); len(got) != 0 {
		t.Fatalf("channels for finished jobs %v stay", got)
	}
}
