package pool

import (
	"fmt"
	"testing"
)

// Short jobs raise the pool's depth, and its reported capacity, to
// MaxJobsPerWorker per worker; a long one brings it back to one.
func TestDepthFollowsJobLength(t *testing.T) {
	h := newHarness(t, "echo", 2, nil)
	if c := h.p.Capacity(); c != 2 {
		t.Fatalf("capacity before any job: %d, want one per worker", c)
	}
	for i := range 4 {
		h.done(h.dispatch(1, fmt.Sprint("short ", i)))
	}
	if c, r := h.p.Capacity(), h.rep.capacity.Load(); c != 2*MaxJobsPerWorker || r != int64(c) {
		t.Fatalf("after short jobs: capacity %d, reported %d; want %d", c, r, 2*MaxJobsPerWorker)
	}

	// Four short jobs at once on one worker's pipeline: all run, in order.
	var jobs []uint64
	for i := range 8 {
		jobs = append(jobs, h.dispatch(1, fmt.Sprint("burst ", i)).ID)
	}
	seen := map[uint64]bool{}
	for range jobs {
		r := h.next()
		h.reply(r)
		seen[r.job.ID] = true
	}
	if len(seen) != len(jobs) {
		t.Fatalf("burst: %d distinct results for %d jobs", len(seen), len(jobs))
	}

	h.done(h.dispatch(1, "sleep:1ms")) // reports over a second of run time
	if c, r := h.p.Capacity(), h.rep.capacity.Load(); c != 2 || r != 2 {
		t.Fatalf("after a long job: capacity %d, reported %d; want 2", c, r)
	}
}

// A restarting pool never queues a job behind another: each worker runs
// one job and is replaced.
func TestRestartKeepsDepthOne(t *testing.T) {
	h := newHarness(t, "echo", 1, func(c *Config) { c.Restart = true })
	for i := range 3 {
		h.done(h.dispatch(1, fmt.Sprint("short ", i)))
	}
	if c := h.p.Capacity(); c != 1 {
		t.Fatalf("restarting pool capacity %d, want 1", c)
	}
}
