package remote

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ppgo/ppgo/core/internal/fakeworker"
	"github.com/ppgo/ppgo/core/sched"
	"github.com/ppgo/ppgo/core/wire"
)

// A job the writer has not taken is withdrawn: it never reaches the node
// and uses no credit. One the writer has taken may be on the wire: it is
// abandoned, once, and the writer is to tell the node. One the link does
// not carry is abandoned too, as its report is still to come, and there
// is nothing to tell the node.
func TestCancelBeforeAndAfterTheWire(t *testing.T) {
	n := New(Config{Addr: "node:1"}, newReporter())
	l := newLink(n, nil) // no writer runs: the test takes jobs as it would
	sent, queued, other := newJob(1, 7, "sent"), newJob(2, 7, "queued"), newJob(3, 7, "other")
	l.enqueue(sent)
	if got, _ := l.take(nil); !slices.Equal(got, []*sched.Job{sent}) {
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
		{"queued, again", queued, sched.Abandoned},
		{"sent", sent, sched.Abandoned},
		{"sent, again", sent, sched.Abandoned},
		{"not yet enqueued", newJob(4, 7, "stranger"), sched.Abandoned},
		{"same id as a job it carries, another job", newJob(3, 7, "impostor"), sched.Abandoned},
	} {
		if got := l.cancel(tt.job); got != tt.want {
			t.Errorf("cancel %s: %v, want %v", tt.name, got, tt.want)
		}
	}
	got, cancels := l.take(nil)
	if !slices.Equal(got, []*sched.Job{other}) || !slices.Equal(cancels, []uint64{sent.ID}) {
		t.Errorf("take after cancel = %v, cancels %v; want job 3, and one cancel of job 1", got, cancels)
	}
	lost := l.shutdown()
	if len(lost.sent) != 2 || len(lost.unsent) != 0 {
		t.Errorf("shutdown: sent %v, unsent %v; want jobs 1 and 3 sent, the withdrawn one gone", lost.sent, lost.unsent)
	}
}

// An abandoned job's Cancel reaches the node after the job itself, once;
// whatever the node then says of the job, or the connection's end, is
// reported once, for the scheduler to take as stale. Results of the
// statuses a job may end in map onto outcomes.
func TestCancelledJobIsReportedOnce(t *testing.T) {
	tests := []struct {
		name   string
		cancel bool         // cancel the job once the node has it
		answer *wire.Result // what the node says of job 1; nil: it hangs up
		want   func(o sched.Outcome) bool
	}{
		{"dropped by the node", true, &wire.Result{ID: 1, Status: wire.StatusCancelled},
			func(o sched.Outcome) bool { return o.Lost != nil && !o.TimedOut && !o.Unsent }},
		{"run by the node all the same", true, &wire.Result{ID: 1, Data: []byte("ran")},
			func(o sched.Outcome) bool { return o.Lost == nil && string(o.Data) == "ran" }},
		{"lost after the cancel", true, nil,
			func(o sched.Outcome) bool { return o.Lost != nil && !o.Unsent }},
		{"done", false, &wire.Result{ID: 1, Data: []byte("ran"), ElapsedNS: 5},
			func(o sched.Outcome) bool { return o.Lost == nil && string(o.Data) == "ran" && o.Elapsed == 5 }},
		{"timed out", false, &wire.Result{ID: 1, Status: wire.StatusTimedOut, Reason: "ran longer than its 2s timeout"},
			func(o sched.Outcome) bool {
				return o.TimedOut && o.Lost != nil && strings.Contains(o.Lost.Error(), "ran longer than its 2s timeout")
			}},
		{"lost", false, &wire.Result{ID: 1, Status: wire.StatusLost, Reason: "worker died"},
			func(o sched.Outcome) bool {
				return !o.TimedOut && o.Lost != nil && strings.Contains(o.Lost.Error(), "worker died")
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, rep, _, srv, p := connect(t, func(c *Config) { c.Redial = false })
			j := newJob(1, 7, "a")
			j.Timeout = 2 * time.Second
			r.Dispatch(j)
			if m := p.job(); m.ID != 1 || m.TimeoutNS != int64(2*time.Second) {
				t.Fatalf("job reached the node as %+v, want its timeout", m)
			}
			if tt.cancel {
				if got := r.Cancel(j); got != sched.Abandoned {
					t.Fatalf("Cancel = %v, want abandoned", got)
				}
				r.Cancel(j) // the scheduler never asks twice; the node still says it once
				m, err := p.read()
				if c, ok := m.(*wire.Cancel); err != nil || !ok || c.ID != 1 {
					t.Fatalf("after Cancel the node read %v, %v; want Cancel{1}", m, err)
				}
			}
			if tt.answer != nil {
				p.send(tt.answer)
			} else {
				p.conn.Close()
			}
			c := rep.finishWithCredits(t) // a node that hangs up takes the credits first
			if c.job != j || !tt.want(c.out) {
				t.Errorf("got %v, timed out %v", c, c.out.TimedOut)
			}
			if c.out.Lost != nil && !strings.Contains(c.out.Lost.Error(), srv.addr) {
				t.Errorf("lost with %q, which does not name the node", c.out.Lost)
			}
			if tt.answer != nil { // and it was no protocol error: the connection carries on
				r.Dispatch(newJob(2, 7, "b"))
				if m, err := p.read(); err != nil || m.MessageType() != wire.TypeJob {
					t.Errorf("after the answer the node read %v, %v; want the next Job", m, err)
				}
			}
			rep.none(t)
		})
	}
}

// Through a real ppserver and a real scheduler: a job that runs past its
// timeout finishes timed out, and runs once; a cancelled job that waits in
// the node's queue is dropped there and never runs; a cancelled job the
// node runs already is cancelled for the client all the same; and the
// node's slots in the scheduler follow its credits all along.
func TestCancelAndTimeoutThroughANode(t *testing.T) {
	srv, addr, hub := startServeMode(t, "record", 1, nil)
	s := sched.New(sched.Config{})
	r := New(Config{Addr: addr, Secret: secret, Redial: true}, s)
	s.AddNode(r, 0)
	r.Start()
	t.Cleanup(r.Close)
	stats := func() sched.NodeStats { return s.Stats()[0] }
	fakeworker.Eventually(t, deadline, "the node connected", func() bool { return stats().Capacity == 2 })
	f := &sched.Func{Key: 1, Source: []byte("src")}
	submit := func(args string, timeout time.Duration) uint64 {
		t.Helper()
		id, err := s.Submit(&sched.Job{Func: f, Args: []byte(args), Timeout: timeout})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	result := func(id uint64, want sched.Status) sched.Result {
		t.Helper()
		if !s.Wait(id, deadline) {
			t.Fatalf("job %d not finished within %v", id, deadline)
		}
		res, _ := s.Result(id)
		if res.Status != want {
			t.Fatalf("job %d: %+v, want status %d", id, res, want)
		}
		return res
	}

	// A timeout: reported as such, naming the node and the limit, and not
	// run again.
	hung := submit("hang", 150*time.Millisecond)
	res := result(hung, sched.StatusTimedOut)
	if !strings.Contains(res.Message, "ran longer than its 150ms timeout") || !strings.Contains(res.Message, addr) {
		t.Errorf("timed-out job's message %q", res.Message)
	}

	// Cancels: one job blocks the node's one worker, the next waits on the
	// node, behind it.
	running := submit("block", 0)
	blocked := hub.NextBlock(t)
	defer blocked.Release()
	waiting := submit("waiting", 0)
	fakeworker.Eventually(t, deadline, "the node holds both jobs", func() bool { return srv.Stats().Running == 2 })
	if !s.Cancel(waiting) {
		t.Fatal("Cancel of a job waiting on the node = false")
	}
	result(waiting, sched.StatusCancelled)
	// Its credit comes back with the node's Result, and with it the slot.
	fakeworker.Eventually(t, deadline, "the dropped job's slot freed", func() bool { return stats().Running == 1 })
	if st := srv.Stats(); st.Cancelled != 1 {
		t.Errorf("node stats %+v, want one job cancelled", st)
	}

	// The running job is cancelled for the client, though the node runs it
	// on; its slot stays in use until the node reports it.
	if !s.Cancel(running) {
		t.Fatal("Cancel of a job on the node = false")
	}
	result(running, sched.StatusCancelled)
	if st := stats(); st.Running != 1 {
		t.Errorf("node running %d while it runs the cancelled job, want 1", st.Running)
	}
	blocked.Release()
	fakeworker.Eventually(t, deadline, "the cancelled job's slot freed", func() bool { return stats().Running == 0 })
	result(running, sched.StatusCancelled) // the node's late Result is stale

	after := submit("after", 0)
	result(after, sched.StatusDone)
	var ran []string
	for _, e := range hub.Ran() {
		ran = append(ran, e.Args)
	}
	if want := []string{"hang", "block", "after"}; !slices.Equal(ran, want) {
		t.Errorf("the node's workers read %q, want %q", ran, want)
	}
	if st := stats(); st.Running != 0 || st.Jobs != 1 {
		t.Errorf("node stats %+v at the end, want nothing running, one job done", st)
	}
}
