package remote

import (
	"testing"

	"github.com/ppgo/ppgo/core/auth"
	"github.com/ppgo/ppgo/core/sched"
	"github.com/ppgo/ppgo/core/wire"
)

// Results that arrive together free their credits together, and the jobs
// the scheduler hands over for them wait until the last of them is read,
// then leave: a heartbeat at the end of the burst must not keep them
// waiting for the node's next message, which may be a long time coming.
func TestJobsFreedByABurstOfResultsAreSent(t *testing.T) {
	srv := newFakeServer(t, secret, auth.Offer{Workers: 1, Credits: 2})
	s := sched.New(sched.Config{})
	t.Cleanup(s.Close)
	n := New(Config{Addr: srv.addr, Secret: secret, Redial: true}, s)
	s.AddNode(n, 0)
	t.Cleanup(n.Close)
	n.Start()
	p := srv.accept(t)
	f := &sched.Func{Key: 1, Source: []byte("src")}
	var ids []uint64
	for range 4 {
		id, err := s.Submit(&sched.Job{Func: f, Args: []byte("x")})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	first := []uint64{p.job().ID, p.job().ID}
	// Both results and a heartbeat in one write, then nothing.
	p.send(&wire.Result{ID: first[0]}, &wire.Result{ID: first[1]}, &wire.Heartbeat{})
	for i, want := range ids[2:] {
		if got := p.job().ID; got != want {
			t.Fatalf("job %d sent after the burst is %d, want %d", i, got, want)
		}
	}
	for _, id := range first {
		if !s.Wait(id, deadline) {
			t.Fatalf("job %d not finished", id)
		}
	}
}
