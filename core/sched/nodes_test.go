package sched

import (
	"fmt"
	"math/rand/v2"
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
