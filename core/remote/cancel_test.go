package remote

import (
	"testing"

	"github.com/ppgo/ppgo/core/sched"
)

// A job the writer has not taken is withdrawn: it never reaches the node
// and uses no credit. One the writer has taken may be on the wire.
func TestCancelUnsent(t *testing.T) {
	n := New(Config{Addr: "node:1"}, newReporter())
	l := newLink(n, nil) // no writer runs: the test takes jobs as it would
	sent, queued, other := newJob(1, 7, "sent"), newJob(2, 7, "queued"), newJob(3, 7, "other")
	l.enqueue(sent)
	if got := l.take(nil); len(got) != 1 || got[0] != sent {
		t.Fatalf("take = %v, want job 1", got)
	}
	l.enqueue(queued)
	l.enqueue(other)
	for _, tt := range []struct {
		name string
		job  *sched.Job
		want sched.CancelResult
	}{
		{"queued", queued, sched.Withdrawn},
		{"queued, again", queued, sched.NotCancelled},
		{"sent", sent, sched.NotCancelled},
		{"never enqueued", newJob(4, 7, "stranger"), sched.NotCancelled},
		{"same id, another job", newJob(3, 7, "impostor"), sched.NotCancelled},
	} {
		if got := l.cancel(tt.job); got != tt.want {
			t.Errorf("cancel %s: %v, want %v", tt.name, got, tt.want)
		}
	}
	if got := l.take(nil); len(got) != 1 || got[0] != other {
		t.Errorf("take after cancel = %v, want only job 3", got)
	}
	lost := l.shutdown()
	if len(lost.sent) != 2 || len(lost.unsent) != 0 {
		t.Errorf("shutdown: sent %v, unsent %v; want jobs 1 and 3 sent, the withdrawn one gone", lost.sent, lost.unsent)
	}
}
