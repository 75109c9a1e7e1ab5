package sched

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// namedNode is a node that only records nothing; the tests drive capacity
// and running counts through the nodeSet directly.
type namedNode struct{ name string }

func (n *namedNode) Name() string             { return n.name }
func (n *namedNode) Dispatch(*Job)            {}
func (n *namedNode) Cancel(*Job) CancelResult { return NotCancelled }

// The heap picks what the scheduler's old linear scan picked: the node with
// the most free slots, the older one on a tie; over random capacity
// changes, dispatches and reports.
func TestRoomiestNodeMatchesALinearScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var set nodeSet
	for i := range 40 {
		set.add(&namedNode{fmt.Sprint(i)}, rng.IntN(4))
	}
	linear := func() *nodeState {
		var best *nodeState
		for _, ns := range set.added {
			if ns.free() > 0 && (best == nil || ns.free() > best.free()) {
				best = ns
			}
		}
		return best
	}
	for step := range 20000 {
		if got, want := set.roomiest(), linear(); got != want {
			t.Fatalf("step %d: roomiest is %v, a linear scan finds %v", step, name(got), name(want))
		}
		ns := set.added[rng.IntN(len(set.added))]
		switch rng.IntN(3) {
		case 0: // capacity changes, even below the jobs it runs
			ns.capacity = rng.IntN(6)
			set.changed(ns)
		case 1: // the scheduler dispatches to the roomiest
			if best := set.roomiest(); best != nil {
				best.running++
				set.changed(best)
			}
		case 2: // a node reports a job done
			if ns.running > 0 {
				ns.running--
				set.changed(ns)
			}
		}
	}
}

// In a saturated cluster every report frees a slot that the next dispatch
// fills: the node that reported must be the roomiest, and the heap end as
// it was, whichever node reports (nodeSet leaves it alone); after two
// reports from one node, one from another, and a capacity change, the
// roomiest is still the right one.
func TestRoomiestWhileReportsRefillTheirSlots(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var set nodeSet
	for i := range 100 {
		set.add(&namedNode{fmt.Sprint(i)}, 1+rng.IntN(8))
	}
	for best := set.roomiest(); best != nil; best = set.roomiest() {
		best.running++
		set.changed(best)
	}
	order := slices.Clone(set.byFree)
	for step := range 10000 {
		ns := set.added[rng.IntN(len(set.added))]
		ns.running--
		set.changed(ns)
		if got := set.roomiest(); got != ns {
			t.Fatalf("step %d: %v freed the only free slot, roomiest is %v", step, name(ns), name(got))
		}
		ns.running++
		set.changed(ns)
		if !slices.Equal(set.byFree, order) {
			t.Fatalf("step %d: refilling %v's slot reordered the heap", step, name(ns))
		}
	}
	// Two reports from one node, one from another, then a capacity change:
	// each roomiest is what a linear scan finds.
	a, b := set.added[10], set.added[20]
	a.running -= 2
	set.changed(a)
	set.changed(a)
	b.running--
	set.changed(b)
	if got := set.roomiest(); got != a {
		t.Fatalf("roomiest is %v, want %v with 2 free slots", name(got), name(a))
	}
	b.capacity += 5
	set.changed(b)
	if got := set.roomiest(); got != b {
		t.Fatalf("roomiest is %v, want %v with 6 free slots", name(got), name(b))
	}
}

func name(ns *nodeState) string {
	if ns == nil {
		return "none"
	}
	return ns.node.Name()
}

// BenchmarkDispatchAmongNodes is a job's life with one node that runs jobs
// among many that have no room (discovered nodes that went away): the cost
// per job must not grow with their number.
func BenchmarkDispatchAmongNodes(b *testing.B) {
	for _, idle := range []int{0, 100, 5000} {
		b.Run(fmt.Sprintf("%d idle nodes", idle), func(b *testing.B) {
			s := New(Config{})
			for i := range idle {
				s.AddNode(&namedNode{fmt.Sprint(i)}, 0)
			}
			s.AddNode(&instantNode{s: s}, 1)
			args := []byte("args")
			for b.Loop() {
				id, err := s.Submit(&Job{Args: args})
				if err != nil {
					b.Fatal(err)
				}
				s.Forget(id)
			}
		})
	}
}
