package sched

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Cancel keeps the node's slots exact: a withdrawn job's slot goes to the
// next queued job at once; an abandoned one's only when the node's stale
// report frees it, as a ppserver's credit is only returned by its Result;
// a job that runs on keeps its slot until it is done.
func TestCancelCapacity(t *testing.T) {
	tests := []struct {
		name   string
		cancel string // "sent" or "queued": which job to cancel
		answer CancelResult
		want   bool // Cancel's answer
		// nextAtOnce: the queued job is dispatched as Cancel returns;
		// otherwise only once the node reports the sent job.
		nextAtOnce bool
		status     Status // the sent job's, once reported
	}{
		{"sent, withdrawn", "sent", Withdrawn, true, true, StatusCancelled},
		{"sent, abandoned", "sent", Abandoned, true, false, StatusCancelled},
		{"sent, started", "sent", NotCancelled, false, false, StatusDone},
		{"queued", "queued", NotCancelled, true, false, StatusDone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Config{})
			n := newFakeNode(s, "n")
			s.AddNode(n, 1)
			sentID := submit(t, s, &Job{Args: []byte("sent")})
			sent := n.next(t)
			queuedID := submit(t, s, &Job{Args: []byte("queued")})
			third := submit(t, s, &Job{Args: []byte("third")})
			n.none(t)
			n.setAnswer(tt.answer)

			id := sentID
			if tt.cancel == "queued" {
				id = queuedID
			}
			if got := s.Cancel(id); got != tt.want {
				t.Fatalf("Cancel = %v, want %v", got, tt.want)
			}
			// Who runs next: the queued job, unless it was cancelled.
			nextID := queuedID
			if tt.cancel == "queued" {
				nextID = third
			}
			if tt.nextAtOnce {
				if j := n.next(t); j.ID != nextID {
					t.Fatalf("dispatched job %d, want %d", j.ID, nextID)
				}
			} else {
				n.none(t)
				if r := s.Stats()[0].Running; r != 1 {
					t.Fatalf("node running %d before its report, want 1", r)
				}
				n.done(sent)
				if j := n.next(t); j.ID != nextID {
					t.Fatalf("after the report, dispatched job %d, want %d", j.ID, nextID)
				}
			}
			n.none(t)
			if r := s.Stats()[0].Running; r != 1 {
				t.Errorf("node running %d, want 1: the next job", r)
			}
			wantResult(t, s, sentID, tt.status, "done:sent")
			if tt.cancel == "queued" {
				wantResult(t, s, queuedID, StatusCancelled, "")
			}
			var left []uint64 // the third job, unless it is the one running
			if tt.cancel == "sent" {
				left = []uint64{third}
			}
			if q := s.Queued(); !slices.Equal(q, left) {
				t.Errorf("Queued = %v, want %v", q, left)
			}
		})
	}
}

// Cancelling a queued job keeps the order of the rest, and Queued stops
// listing it at once.
func TestCancelQueuedKeepsOrder(t *testing.T) {
	s := New(Config{})
	n := newFakeNode(s, "n")
	s.AddNode(n, 0)
	ids := submitN(t, s, "g", 6)
	for _, i := range []int{0, 3, 5} {
		if !s.Cancel(ids[i]) {
			t.Fatalf("Cancel(%d) = false", ids[i])
		}
	}
	want := []uint64{ids[1], ids[2], ids[4]}
	if q := s.Queued(); !slices.Equal(q, want) {
		t.Fatalf("Queued = %v, want %v", q, want)
	}
	if p := s.Pending(); p != 3 {
		t.Errorf("Pending = %d, want 3", p)
	}
	s.SetCapacity(n, 3)
	for _, id := range want {
		if j := n.next(t); j.ID != id {
			t.Fatalf("dispatched %d, want %d", j.ID, id)
		}
	}
}

// backlogNode keeps the jobs it is dispatched in a backlog that its
// runners take from, as the local pool does, and answers Cancel as the
// pool (withdraw from the backlog) or a remote node (abandon anything
// unreported) would. It counts what it holds against its capacity.
type backlogNode struct {
	name     string
	s        *Scheduler
	capacity int
	abandon  bool // answer as a remote node

	mu      sync.Mutex
	backlog []*Job
	held    int           // dispatched and not reported, withdrawn jobs excepted
	over    int           // times held went past capacity
	holding map[*Job]bool // dispatched, not withdrawn, not yet reported
	wake    chan struct{}
}

func (n *backlogNode) Name() string { return n.name }

func (n *backlogNode) Dispatch(j *Job) {
	n.mu.Lock()
	n.held++
	if n.held > n.capacity {
		n.over++
	}
	n.holding[j] = true
	n.backlog = append(n.backlog, j)
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *backlogNode) Cancel(j *Job) CancelResult {
	n.mu.Lock()
	defer n.mu.Unlock()
	i := slices.Index(n.backlog, j)
	switch {
	case n.abandon && n.holding[j]:
		return Abandoned
	case !n.abandon && i >= 0:
		n.backlog = slices.Delete(n.backlog, i, i+1)
		delete(n.holding, j)
		n.held--
		return Withdrawn
	}
	return NotCancelled
}

// serve runs jobs from the backlog until stop, and then until the backlog
// is empty.
func (n *backlogNode) serve(stop <-chan struct{}) {
	for {
		n.mu.Lock()
		var j *Job
		if len(n.backlog) > 0 {
			j = n.backlog[0]
			n.backlog = n.backlog[1:]
		}
		n.mu.Unlock()
		if j == nil {
			select {
			case <-n.wake:
				continue
			case <-stop:
				return
			}
		}
		n.mu.Lock()
		n.held--
		delete(n.holding, j) // from here on Cancel finds it reported
		n.mu.Unlock()
		n.s.Finish(n, j, Outcome{Data: j.Args, Elapsed: time.Microsecond})
	}
}

// Submitters cancel their own jobs while nodes run them on their own
// goroutines: Cancel's answers and the nodes' reports race. Every job must
// end exactly once, cancelled if and only if Cancel said so; no node may
// ever hold more than its capacity; and at the end no slot stays in use.
func TestCancelConcurrentStress(t *testing.T) {
	const (
		submitters = 6
		perSub     = 300
	)
	s := New(Config{})
	stop := make(chan struct{})
	var serving sync.WaitGroup
	var nodes []*backlogNode
	for i, c := range []int{2, 3} {
		n := &backlogNode{name: fmt.Sprint("n", i), s: s, capacity: c, abandon: i == 1,
			holding: map[*Job]bool{}, wake: make(chan struct{}, 1)}
		nodes = append(nodes, n)
		s.AddNode(n, c)
		for range c {
			serving.Add(1)
			go func() { defer serving.Done(); n.serve(stop) }()
		}
	}
	type kept struct {
		id        uint64
		args      string
		cancelled bool
	}
	var (
		mu   sync.Mutex
		all  []kept
		hits atomic.Int64 // Cancels that returned true
	)
	var submitting sync.WaitGroup
	for g := range submitters {
		submitting.Add(1)
		go func() {
			defer submitting.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 3))
			var mine []kept
			for i := range perSub {
				args := fmt.Sprintf("%d/%d", g, i)
				id, err := s.Submit(&Job{Args: []byte(args)})
				if err != nil {
					t.Errorf("Submit: %v", err)
					return
				}
				mine = append(mine, kept{id: id, args: args})
				if rng.IntN(2) == 0 { // cancel one of the last few: queued, sent or done
					k := &mine[len(mine)-1-rng.IntN(min(len(mine), 4))]
					if s.Cancel(k.id) {
						if k.cancelled {
							t.Errorf("job %d cancelled twice", k.id)
						}
						k.cancelled = true
						hits.Add(1)
					}
				}
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}()
	}
	submitting.Wait()
	if !s.WaitGroup("", true, 10*time.Second) {
		t.Fatalf("jobs still pending after 10s: %d", s.Pending())
	}
	for _, k := range all {
		want := StatusDone
		if k.cancelled {
			want = StatusCancelled
		}
		wantResult(t, s, k.id, want, k.args)
	}
	if hits.Load() == 0 {
		t.Error("no Cancel succeeded: the test cancelled nothing")
	}
	// Abandoned jobs still run, finished already: their stale reports
	// come once the nodes have emptied their backlogs.
	close(stop)
	serving.Wait()
	for i, st := range s.Stats() {
		n := nodes[i]
		if st.Running != 0 {
			t.Errorf("node %s: Running = %d at the end", st.Name, st.Running)
		}
		n.mu.Lock()
		if n.over != 0 {
			t.Errorf("node %s: held more than its capacity %d, %d times", st.Name, n.capacity, n.over)
		}
		n.mu.Unlock()
	}
}
