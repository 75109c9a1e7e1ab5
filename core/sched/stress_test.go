package sched

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// workerNode runs each dispatched job on one of its own goroutines, which
// finishes it with the job's args as data, or loses it now and then.
type workerNode struct {
	name     string
	s        *Scheduler
	capacity int
	jobs     chan *Job
	inflight atomic.Int64
	over     atomic.Int64 // dispatches beyond capacity
	lost     atomic.Int64
}

func (n *workerNode) Name() string { return n.name }

func (n *workerNode) Cancel(*Job) CancelResult { return NotCancelled }

func (n *workerNode) Dispatch(j *Job) {
	if n.inflight.Add(1) > int64(n.capacity) {
		n.over.Add(1)
	}
	n.jobs <- j
}

func (n *workerNode) serve(seed uint64, stop <-chan struct{}) {
	rng := rand.New(rand.NewPCG(seed, 1))
	for {
		select {
		case j := <-n.jobs:
			n.inflight.Add(-1)
			if rng.IntN(10) == 0 {
				n.lost.Add(1)
				n.s.Finish(n, j, Outcome{Lost: errors.New("worker died")})
				continue
			}
			n.s.Finish(n, j, Outcome{Data: j.Args, Elapsed: time.Microsecond})
		case <-stop:
			return
		}
	}
}

// Many goroutines submit plain, notify and forgotten jobs while nodes
// finish and lose them on their own goroutines; every job must end exactly
// once with its own data, and no node may ever run more than its capacity.
func TestConcurrentStress(t *testing.T) {
	const (
		submitters = 8
		perSub     = 250
		total      = submitters * perSub
	)
	// Losses are 1 in 10; 50 losses in a row do not happen.
	s := New(Config{MaxAttempts: 50})
	stop := make(chan struct{})
	var serving sync.WaitGroup
	var nodes []*workerNode
	for i, c := range []int{1, 3, 4} {
		n := &workerNode{name: fmt.Sprintf("n%d", i), s: s, capacity: c, jobs: make(chan *Job, c)}
		nodes = append(nodes, n)
		s.AddNode(n, c)
		for k := range c {
			serving.Add(1)
			go func() { defer serving.Done(); n.serve(uint64(i*100+k), stop) }()
		}
	}
	defer func() { close(stop); serving.Wait() }()

	// The notification consumer releases every notify job.
	var released atomic.Int64
	consumerDone := make(chan struct{})
	go func() {
		defer close(consumerDone)
		for {
			ids, ok := s.NextNotified(16, 50*time.Millisecond)
			if !ok {
				return
			}
			for _, id := range ids {
				if r, ok := s.Result(id); !ok || r.Status != StatusDone {
					t.Errorf("notified job %d has no done result: %+v %v", id, r, ok)
				}
				released.Add(1) // before Release, which may end the final WaitGroup
				s.Release(id)
			}
		}
	}()

	type kept struct {
		id   uint64
		args string
	}
	var (
		mu       sync.Mutex
		plain    []kept
		notifies int64
	)
	var submitting sync.WaitGroup
	for g := range submitters {
		submitting.Add(1)
		go func() {
			defer submitting.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 2))
			for i := range perSub {
				args := fmt.Sprintf("%d/%d", g, i)
				j := &Job{Group: fmt.Sprint("g", g%3), Args: []byte(args)}
				kind := rng.IntN(4)
				j.Notify = kind == 0
				id, err := s.Submit(j)
				if err != nil {
					t.Errorf("Submit: %v", err)
					return
				}
				switch kind {
				case 0:
					atomic.AddInt64(&notifies, 1)
				case 1:
					s.Forget(id)
				default:
					mu.Lock()
					plain = append(plain, kept{id, args})
					mu.Unlock()
				}
			}
		}()
	}
	submitting.Wait()
	if !s.WaitGroup("", true, 10*time.Second) {
		t.Fatalf("jobs still pending after 10s: %d", s.Pending())
	}
	for g := range 3 {
		if !s.WaitGroup(fmt.Sprint("g", g), false, 0) {
			t.Errorf("group g%d still pending", g)
		}
	}
	for _, k := range plain {
		wantResult(t, s, k.id, StatusDone, k.args)
	}
	if got, want := released.Load(), atomic.LoadInt64(&notifies); got != want {
		t.Errorf("released %d notify jobs, want %d", got, want)
	}
	jobs, lost := 0, int64(0)
	for i, st := range s.Stats() {
		n := nodes[i]
		jobs += st.Jobs
		lost += n.lost.Load()
		if st.Running != 0 {
			t.Errorf("node %s: Running = %d at the end", st.Name, st.Running)
		}
		if o := n.over.Load(); o != 0 {
			t.Errorf("node %s: %d dispatches beyond its capacity %d", st.Name, o, n.capacity)
		}
	}
	if jobs != total {
		t.Errorf("nodes completed %d jobs, want %d", jobs, total)
	}
	if lost == 0 {
		t.Error("no job was lost: the retry path went untested")
	}
	if p := s.Pending(); p != 0 {
		t.Errorf("Pending = %d", p)
	}
	s.Close()
	select {
	case <-consumerDone:
	case <-time.After(deadline):
		t.Fatal("NextNotified consumer did not stop after Close")
	}
}
