package pool

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ppgo/ppgo/core/internal/fakeworker"
	"github.com/ppgo/ppgo/core/shm"
)

// segmentOf makes a sealed segment holding s.
func segmentOf(t *testing.T, s string) *shm.Segment {
	t.Helper()
	seg, err := shm.FromBytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return seg
}

// readSegment returns what seg holds.
func readSegment(t *testing.T, seg *shm.Segment) string {
	t.Helper()
	b, err := seg.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Segments cross both ways: a job's reaches its worker ahead of its frame
// (a retry sends it again), a worker's comes back with its result.
func TestPoolSegments(t *testing.T) {
	h := newHarness(t, "echo", 1, nil)
	j := h.newJob(1, "with a segment", 0)
	j.Segment = segmentOf(t, "arguments' buffers")
	h.p.Dispatch(j)
	if got := h.done(j).Segment; got != "arguments' buffers" {
		t.Errorf("worker got segment %q", got)
	}
	after := h.dispatch(1, "plain")
	if got := h.done(after).Segment; got != "" {
		t.Errorf("a job without a segment came with %q", got)
	}
	back := h.dispatch(2, "segment:ok")
	r := h.next()
	h.reply(r)
	if r.job != back || r.out.Segment == nil {
		t.Fatalf("job %d: outcome %+v, want one with a segment", back.ID, r.out)
	}
	if got := readSegment(t, r.out.Segment); got != "segment" {
		t.Errorf("result segment holds %q", got)
	}
	r.out.Segment.Close()

	// Sent again after its worker died: the segment is still whole.
	dies := h.newJob(1, "kill", 0)
	dies.Segment = segmentOf(t, "again")
	h.p.Dispatch(dies)
	h.lost(dies, "SIGKILL")
	dies.Args = []byte("retried")
	h.p.Dispatch(dies)
	if got := h.done(dies).Segment; got != "again" {
		t.Errorf("the retry's worker got segment %q", got)
	}
}

// A worker that announces a segment and sends none, or sends something
// that is not a sealed memfd of the size it announced, is broken: it is
// killed and replaced, its job lost saying what was wrong, and the pool
// neither hangs on the socket nor keeps what it was sent.
func TestPoolBadSegments(t *testing.T) {
	tests := []struct {
		how  string
		want string
	}{
		{"none", "announced a segment it did not send"},
		{"nofd", "sent 0 descriptors with a segment message, not 1"},
		{"two", "sent 2 descriptors with a segment message, not 1"},
		{"pipe", "not a memfd segment"},
		{"unsealed", "not sealed against resizing"},
		{"short", "segment holds 7 bytes, 100 were announced"},
		{"huge", "announced a 1073741825-byte segment (1 GiB), over the 1 GiB limit"},
	}
	for _, tt := range tests {
		t.Run(tt.how, func(t *testing.T) {
			h := newHarness(t, "echo", 1, nil)
			first := h.hub.NextStart(t)
			start := time.Now()
			j := h.dispatch(1, "segment:"+tt.how)
			h.lost(j, tt.want, fmt.Sprintf("worker process %d", first.PID))
			if el := time.Since(start); el > resolveWithin {
				t.Errorf("the bad segment was noticed after %v", el)
			}
			second := h.hub.NextStart(t)
			if rep := h.done(h.dispatch(1, "after")); rep.PID != second.PID {
				t.Errorf("next job ran on %d, want the replacement %d", rep.PID, second.PID)
			}
			fakeworker.Eventually(t, deadline, "broken worker killed", func() bool { return fakeworker.ProcessGone(first.PID) })
		})
	}
}

// A header with the segment flag on a kind that takes none is a bad frame.
func TestPoolSegmentFlagOnReady(t *testing.T) {
	err := checkWorkerHeader(frameHeader{kind: kindReady, segment: true}, DefaultMaxResult)
	if err == nil || !strings.Contains(err.Error(), "READY frame with a segment") {
		t.Errorf("READY with a segment: %v", err)
	}
	err = checkWorkerHeader(frameHeader{kind: kindJob, segment: true}, DefaultMaxResult)
	if err == nil || !strings.Contains(err.Error(), "kind 129") {
		t.Errorf("JOB with a segment from a worker: %v", err)
	}
}
