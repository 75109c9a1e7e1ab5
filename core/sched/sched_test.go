package sched

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestDispatchIsFIFO(t *testing.T) {
	tests := []struct {
		name     string
		capacity int
		late     bool // add the node after submitting
	}{
		{"one slot", 1, false},
		{"three slots", 3, false},
		{"node added after submit", 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Config{})
			n := newFakeNode(s, "n")
			if !tt.late {
				s.AddNode(n, tt.capacity)
			}
			want := submitN(t, s, "", 10)
			if tt.late {
				n.none(t)
				s.AddNode(n, tt.capacity)
			}
			var got []uint64
			for range want {
				j := n.next(t)
				got = append(got, j.ID)
				if string(j.Args) != fmt.Sprint(len(got)-1) {
					t.Fatalf("job %d carries args %q, want %q", j.ID, j.Args, fmt.Sprint(len(got)-1))
				}
				n.done(j)
			}
			n.none(t)
			if !slices.Equal(got, want) {
				t.Errorf("dispatch order %v, want %v", got, want)
			}
			if m := n.max(); m > tt.capacity {
				t.Errorf("node ran %d jobs at once, capacity %d", m, tt.capacity)
			}
		})
	}
}

// Every step, the nodes together run exactly min(total capacity, jobs left)
// jobs, and no node more than its own capacity.
func TestCapacityRespected(t *testing.T) {
	tests := []struct {
		name string
		caps []int
		jobs int
	}{
		{"single node", []int{1}, 5},
		{"two nodes", []int{2, 3}, 20},
		{"three single slots", []int{1, 1, 1}, 10},
		{"a node with no slots", []int{0, 2}, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Config{})
			var nodes []*fakeNode
			total := 0
			for i, c := range tt.caps {
				n := newFakeNode(s, fmt.Sprintf("n%d", i))
				s.AddNode(n, c)
				nodes = append(nodes, n)
				total += c
			}
			submitN(t, s, "", tt.jobs)
			running := make([][]*Job, len(nodes))
			left := tt.jobs
			for step := 0; left > 0; step++ {
				// Collect what was dispatched; it is all there already.
				for i, n := range nodes {
				drain:
					for {
						select {
						case j := <-n.jobs:
							running[i] = append(running[i], j)
						default:
							break drain
						}
					}
				}
				inflight := 0
				for i, r := range running {
					if len(r) > tt.caps[i] {
						t.Fatalf("step %d: node %d runs %d jobs, capacity %d", step, i, len(r), tt.caps[i])
					}
					inflight += len(r)
				}
				if want := min(total, left); inflight != want {
					t.Fatalf("step %d: %d jobs in flight, want %d", step, inflight, want)
				}
				stats := s.Stats()
				for i, st := range stats {
					if st.Running != len(running[i]) || st.Capacity != tt.caps[i] {
						t.Fatalf("step %d: Stats[%d] = %+v, want running %d capacity %d",
							step, i, st, len(running[i]), tt.caps[i])
					}
				}
				// Finish the oldest job of a node chosen round robin.
				for k := range nodes {
					i := (step + k) % len(nodes)
					if len(running[i]) > 0 {
						j := running[i][0]
						running[i] = running[i][1:]
						nodes[i].done(j)
						left--
						break
					}
				}
			}
			jobs := 0
			for i, st := range s.Stats() {
				jobs += st.Jobs
				if m := nodes[i].max(); m > tt.caps[i] {
					t.Errorf("node %d ran %d jobs at once, capacity %d", i, m, tt.caps[i])
				}
			}
			if jobs != tt.jobs {
				t.Errorf("Stats count %d jobs done, want %d", jobs, tt.jobs)
			}
			if p := s.Pending(); p != 0 {
				t.Errorf("Pending = %d after every job finished", p)
			}
		})
	}
}

func TestDispatchPrefersMostFreeSlots(t *testing.T) {
	s := New(Config{})
	a, b, c := newFakeNode(s, "a"), newFakeNode(s, "b"), newFakeNode(s, "c")
	s.AddNode(a, 1)
	s.AddNode(b, 3)
	s.AddNode(c, 2)
	// Free slots a1 b3 c2 → b; a1 b2 c2 → b (tie: first added); a1 b1 c2 → c;
	// a1 b1 c1 → a; a0 b1 c1 → b; a0 b0 c1 → c.
	want := []*fakeNode{b, b, c, a, b, c}
	byNode := map[*fakeNode][]*Job{}
	for i, w := range want {
		id := submit(t, s, &Job{})
		for _, n := range []*fakeNode{a, b, c} {
			if n == w {
				continue
			}
			n.none(t)
		}
		j := w.next(t)
		if j.ID != id {
			t.Fatalf("job %d: node %s got job %d", i, w.name, j.ID)
		}
		byNode[w] = append(byNode[w], j)
	}
	// Everything is full: the next job waits for the first free slot.
	id := submit(t, s, &Job{})
	a.none(t)
	b.none(t)
	c.none(t)
	c.done(byNode[c][0])
	if j := c.next(t); j.ID != id {
		t.Fatalf("freed node c got job %d, want %d", j.ID, id)
	}
	a.none(t)
	b.none(t)
}

func TestSetCapacity(t *testing.T) {
	t.Run("grow dispatches queued jobs", func(t *testing.T) {
		s := New(Config{})
		n := newFakeNode(s, "n")
		s.AddNode(n, 0)
		want := submitN(t, s, "", 3)
		n.none(t)
		s.SetCapacity(n, 2)
		got := []uint64{n.next(t).ID, n.next(t).ID}
		n.none(t)
		s.SetCapacity(n, 3)
		got = append(got, n.next(t).ID)
		n.none(t)
		if !slices.Equal(got, want) {
			t.Errorf("dispatched %v, want %v", got, want)
		}
	})
	t.Run("shrink stops dispatch until running drops", func(t *testing.T) {
		s := New(Config{})
		n := newFakeNode(s, "n")
		s.AddNode(n, 3)
		all := submitN(t, s, "", 5)
		running := []*Job{n.next(t), n.next(t), n.next(t)}
		n.none(t)
		s.SetCapacity(n, 1)
		n.none(t)
		n.done(running[0]) // 2 running, capacity 1
		n.none(t)
		n.done(running[1]) // 1 running
		n.none(t)
		if st := s.Stats()[0]; st.Capacity != 1 || st.Running != 1 {
			t.Fatalf("Stats = %+v, want capacity 1 running 1", st)
		}
		n.done(running[2]) // 0 running: one new job
		j := n.next(t)
		if j.ID != all[3] {
			t.Fatalf("dispatched job %d, want %d", j.ID, all[3])
		}
		n.none(t)
		n.done(j)
		if j := n.next(t); j.ID != all[4] {
			t.Fatalf("dispatched job %d, want %d", j.ID, all[4])
		}
	})
	t.Run("negative capacity is zero", func(t *testing.T) {
		s := New(Config{})
		n := newFakeNode(s, "n")
		s.AddNode(n, -2)
		submitN(t, s, "", 1)
		n.none(t)
		s.SetCapacity(n, -1)
		n.none(t)
		if st := s.Stats()[0]; st.Capacity != 0 {
			t.Fatalf("Capacity = %d, want 0", st.Capacity)
		}
		s.SetCapacity(n, 1)
		n.next(t)
	})
	t.Run("unknown node is ignored", func(t *testing.T) {
		s := New(Config{})
		n := newFakeNode(s, "n")
		s.AddNode(n, 1)
		s.SetCapacity(newFakeNode(s, "stranger"), 5)
		if st := s.Stats(); len(st) != 1 || st[0].Capacity != 1 {
			t.Fatalf("Stats = %+v", st)
		}
	})
}

func TestLostJobIsRequeuedAtHead(t *testing.T) {
	s := New(Config{})
	a, b := newFakeNode(s, "a"), newFakeNode(s, "b")
	s.AddNode(a, 1)
	s.AddNode(b, 1)
	ids := submitN(t, s, "", 3)
	j1, j2 := a.next(t), b.next(t)
	if j1.ID != ids[0] || j2.ID != ids[1] {
		t.Fatalf("first dispatch %d, %d; want %d, %d", j1.ID, j2.ID, ids[0], ids[1])
	}
	a.lose(j1, errors.New("worker died"))
	// The lost job goes before job 3, which has waited less.
	retry := a.next(t)
	if retry.ID != ids[0] {
		t.Fatalf("after losing job %d the node got job %d", ids[0], retry.ID)
	}
	b.none(t)
	if ok := s.Wait(ids[0], 0); ok {
		t.Fatal("a lost job counts as finished")
	}
	if _, ok := s.Result(ids[0]); ok {
		t.Fatal("a lost job has a result")
	}
	a.done(retry)
	wantResult(t, s, ids[0], StatusDone, "done:0")
	if j3 := a.next(t); j3.ID != ids[2] {
		t.Fatalf("next job %d, want %d", j3.ID, ids[2])
	}
	// A lost job does not count as a job the node ran.
	if st := s.Stats()[0]; st.Jobs != 1 {
		t.Errorf("node a ran %d jobs, want 1", st.Jobs)
	}
}

// Queued lists the jobs no node has yet, in dispatch order: a lost job
// rejoins it at the head, and Close empties it.
func TestQueued(t *testing.T) {
	s := New(Config{})
	n := newFakeNode(s, "n")
	s.AddNode(n, 1)
	ids := submitN(t, s, "", 4)
	if got := s.Queued(); !slices.Equal(got, ids[1:]) {
		t.Fatalf("Queued = %v with job %d running, want %v", got, ids[0], ids[1:])
	}
	n.lose(n.next(t), errors.New("worker died"))
	if got := s.Queued(); !slices.Equal(got, ids[1:]) {
		t.Fatalf("Queued = %v after the running job was lost and re-sent, want %v", got, ids[1:])
	}
	n.done(n.next(t))
	if got := s.Queued(); !slices.Equal(got, ids[2:]) {
		t.Fatalf("Queued = %v after one job finished, want %v", got, ids[2:])
	}
	s.Close()
	if got := s.Queued(); len(got) != 0 {
		t.Fatalf("Queued = %v after Close, want none", got)
	}
}

func TestLostTooOftenFails(t *testing.T) {
	tests := []struct {
		maxAttempts int
		want        int
	}{
		{0, DefaultMaxAttempts},
		{1, 1},
		{5, 5},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.maxAttempts), func(t *testing.T) {
			s := New(Config{MaxAttempts: tt.maxAttempts})
			n := newFakeNode(s, "n")
			s.AddNode(n, 1)
			id := submit(t, s, &Job{Group: "g"})
			for attempt := 1; attempt <= tt.want; attempt++ {
				j := n.next(t)
				if j.ID != id {
					t.Fatalf("attempt %d: got job %d", attempt, j.ID)
				}
				if s.Wait(id, 0) {
					t.Fatalf("attempt %d: finished too early", attempt)
				}
				n.lose(j, fmt.Errorf("worker process 42 killed by signal SIGKILL (9) on attempt %d", attempt))
			}
			n.none(t)
			if !s.Wait(id, 0) {
				t.Fatal("job not finished after its last attempt")
			}
			r := wantResult(t, s, id, StatusFailed, "")
			for _, want := range []string{
				"failed after", // the client names the job
				fmt.Sprintf("after %d attempts", tt.want),
				fmt.Sprintf("SIGKILL (9) on attempt %d", tt.want), // the last cause
			} {
				if !strings.Contains(r.Message, want) {
					t.Errorf("message %q does not contain %q", r.Message, want)
				}
			}
			if !s.WaitGroup("g", false, 0) || s.Pending() != 0 {
				t.Error("a failed job still counts as pending")
			}
		})
	}
}

func TestFinishInsideDispatch(t *testing.T) {
	tests := []struct {
		name     string
		lose     bool
		capacity int
		late     bool // jobs queue up first, then capacity opens
	}{
		{"completes", false, 1, false},
		{"loses then completes", true, 2, false},
		{"long queue drains", false, 0, true},
		{"long queue with losses", true, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Config{})
			n := &syncNode{s: s, lose: tt.lose, tried: map[uint64]bool{}}
			s.AddNode(n, tt.capacity)
			var ids []uint64
			within(t, "Submit", func() {
				for i := range 500 {
					id, err := s.Submit(&Job{Args: []byte(fmt.Sprint(i))})
					if err != nil {
						t.Errorf("Submit: %v", err)
						return
					}
					ids = append(ids, id)
				}
			})
			if tt.late {
				if p := s.Pending(); p != len(ids) {
					t.Fatalf("Pending = %d with no capacity, want %d", p, len(ids))
				}
				within(t, "SetCapacity", func() { s.SetCapacity(n, 1) })
			}
			if !s.WaitGroup("", true, 0) {
				t.Fatalf("%d jobs still pending", s.Pending())
			}
			for i, id := range ids {
				wantResult(t, s, id, StatusDone, fmt.Sprint(i))
			}
			if st := s.Stats()[0]; st.Running != 0 || st.Jobs != len(ids) {
				t.Errorf("Stats = %+v, want running 0 jobs %d", st, len(ids))
			}
		})
	}
}
