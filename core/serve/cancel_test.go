package serve

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ppgo/ppgo/core/internal/fakeworker"
	"github.com/ppgo/ppgo/core/wire"
)

// A job that runs past the timeout its client sent has its worker killed,
// and its Result says it timed out, naming the limit; its credit comes
// back, and the node carries on with a new worker.
func TestTimeout(t *testing.T) {
	nd := startNode(t, 1, nil)
	c := mustDial(t, nd)
	first := nd.hub.NextStart(t)
	c.send(&wire.Job{ID: 1, Key: 1, Source: []byte("src"), Args: []byte("hang"), TimeoutNS: int64(150 * time.Millisecond)})
	r := c.result()
	if r.ID != 1 || r.Status != wire.StatusTimedOut || len(r.Data) != 0 ||
		!strings.Contains(r.Reason, "ran longer than its 150ms timeout; its worker") {
		t.Fatalf("result %+v, want job 1 timed out", r)
	}
	c.send(&wire.Job{ID: 2, Key: 1, Args: []byte("after")})
	r = c.result()
	if rep := reply(t, r); r.ID != 2 || rep.PID == first.PID {
		t.Errorf("next job: %+v on worker %d, want a new worker", rep, rep.PID)
	}
	if st := nd.srv.Stats(); st.TimedOut != 1 || st.Jobs != 1 || st.Running != 0 {
		t.Errorf("Stats = %+v, want one job timed out, one done", st)
	}
}

// Cancel drops a job that waits in the node's queue: it never runs, and
// its Result says it was cancelled, returning its credit. A job a worker
// has started runs on, and a Cancel of a job not in flight is ignored.
func TestCancelQueuedJob(t *testing.T) {
	nd := startRecordingNode(t, 1, nil)
	c := mustDial(t, nd)
	if c.offer.Credits != 2 {
		t.Fatalf("offer %+v, want 2 credits", c.offer)
	}
	c.send(
		&wire.Job{ID: 1, Key: 1, Source: []byte("src"), Args: []byte("block")},
		&wire.Job{ID: 2, Key: 1, Args: []byte("queued")}, // the one worker is busy
	)
	blocked := nd.block(t)
	c.send(&wire.Cancel{ID: 2})
	if r := c.result(); r.ID != 2 || r.Status != wire.StatusCancelled || len(r.Data) != 0 {
		t.Fatalf("result %+v, want job 2 cancelled", r)
	}
	// Its credit is back: another job fits beside the running one.
	c.send(
		&wire.Job{ID: 3, Key: 1, Args: []byte("after")},
		&wire.Cancel{ID: 1},  // running: it runs on
		&wire.Cancel{ID: 2},  // reported already: ignored
		&wire.Cancel{ID: 99}, // never sent: ignored
	)
	blocked.Release()
	got := map[uint64]string{}
	for range 2 {
		r := c.result()
		got[r.ID] = reply(t, r).Args
	}
	if got[1] != "block" || got[3] != "after" {
		t.Fatalf("results %v, want jobs 1 and 3 done", got)
	}
	var ran []string
	for _, e := range nd.hub.Ran() {
		ran = append(ran, e.Args)
	}
	if want := []string{"block", "after"}; !slices.Equal(ran, want) {
		t.Errorf("workers read %q, want %q: the cancelled job must never run", ran, want)
	}
	if st := nd.srv.Stats(); st.Cancelled != 1 || st.Jobs != 2 || st.Running != 0 || st.Clients != 1 {
		t.Errorf("Stats = %+v, want one job cancelled, two done", st)
	}
}

// A Job the protocol forbids closes the connection.
func TestBadJobClosesConnection(t *testing.T) {
	tests := []struct {
		name string
		jobs []wire.Message
		log  string
	}{
		{"negative timeout", []wire.Message{
			&wire.Job{ID: 1, Key: 1, Source: []byte("src"), Args: []byte("x"), TimeoutNS: -1},
		}, "job 1 has a negative timeout"},
		{"id in flight", []wire.Message{
			&wire.Job{ID: 1, Key: 1, Source: []byte("src"), Args: []byte("block")},
			&wire.Job{ID: 1, Key: 1, Args: []byte("again")},
		}, "job 1 sent while job 1 is in flight"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nd := startNode(t, 1, nil)
			c := mustDial(t, nd)
			c.send(tt.jobs...)
			c.closed()
			fakeworker.Eventually(t, deadline, "the log line", func() bool {
				return strings.Contains(nd.log.String(), tt.log)
			})
		})
	}
}
