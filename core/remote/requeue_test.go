package remote

import (
	"sync"
	"testing"
	"time"

	"github.com/ppgo/ppgo/core/sched"
)

// gatedScheduler is a real scheduler whose SetCapacity(0) can be held,
// to stop a node in the middle of going away, and which cuts short a job
// handed back unsent over and over (the scheduler would spin).
type gatedScheduler struct {
	*sched.Scheduler

	mu      sync.Mutex
	armed   bool
	held    chan struct{} // closed when SetCapacity(0) is being held
	release chan struct{}
	unsent  int
}

func (g *gatedScheduler) SetCapacity(n sched.Node, capacity int) {
	g.mu.Lock()
	hold := g.armed && capacity == 0
	g.armed = g.armed && !hold
	g.mu.Unlock()
	if hold {
		close(g.held)
		<-g.release
	}
	g.Scheduler.SetCapacity(n, capacity)
}

func (g *gatedScheduler) Finish(n sched.Node, j *sched.Job, o sched.Outcome) {
	if o.Unsent {
		g.mu.Lock()
		g.unsent++
		spin := g.unsent > 10
		g.mu.Unlock()
		if spin {
			return // drop it: the test fails on the count
		}
	}
	g.Scheduler.Finish(n, j, o)
}

func (g *gatedScheduler) unsentCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.unsent
}

// A node going away stops taking work before it stops accepting it: a job
// the scheduler hands over in between comes back once, unsent, and is not
// handed straight back to the same node, which the scheduler still counts
// as having free slots.
func TestDisconnectDoesNotBounceJobs(t *testing.T) {
	srv := newFakeServer(t, secret, offer)
	g := &gatedScheduler{Scheduler: sched.New(sched.Config{}), held: make(chan struct{}), release: make(chan struct{})}
	t.Cleanup(g.Close)
	r := New(Config{Addr: srv.addr, Secret: secret}, g)
	t.Cleanup(r.Close)
	var releaseOnce sync.Once
	unhold := func() { releaseOnce.Do(func() { close(g.release) }) }
	t.Cleanup(unhold) // before r.Close: the node may be held
	g.AddNode(r, 0)
	r.Start()
	p := srv.accept(t)
	deadlineAt := time.Now().Add(deadline)
	for g.Stats()[0].Capacity != offer.Credits {
		if time.Now().After(deadlineAt) {
			t.Fatalf("capacity never reached %d: %+v", offer.Credits, g.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	g.mu.Lock()
	g.armed = true
	g.mu.Unlock()

	p.conn.Close()
	select {
	case <-g.held:
	case <-time.After(deadline):
		t.Fatal("the node never dropped its capacity")
	}
	done := make(chan uint64, 1)
	go func() {
		id, err := g.Submit(&sched.Job{Func: &sched.Func{Key: 1}, Args: []byte("between")})
		if err != nil {
			t.Errorf("Submit: %v", err)
		}
		done <- id
	}()
	var id uint64
	select {
	case id = <-done:
	case <-time.After(deadline):
		t.Fatal("Submit did not return")
	}
	if n := g.unsentCount(); n > 1 {
		t.Fatalf("the job came back unsent %d times: the node bounced it while going away", n)
	}
	unhold()
	for g.unsentCount() == 0 || g.Stats()[0].Running != 0 {
		if time.Now().After(deadlineAt) {
			t.Fatalf("the job never came back: unsent %d, stats %+v", g.unsentCount(), g.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	if n, st := g.unsentCount(), g.Stats()[0]; n != 1 || st.Capacity != 0 || st.Running != 0 {
		t.Errorf("unsent %d times, stats %+v; want once, and the node idle with no capacity", n, st)
	}
	if g.Wait(id, 0) || g.Pending() != 1 {
		t.Errorf("the job is not back in the queue: Pending %d", g.Pending())
	}
}
