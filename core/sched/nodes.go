package sched

import (
	"container/heap"
	"time"
)

// nodeState is a node and its counters. Guarded by Scheduler.mu.
type nodeState struct {
	node     Node
	capacity int
	running  int
	jobs     int
	busy     time.Duration
	failed   uint64    // jobs that ended failed or timed out here
	retried  uint64    // jobs lost here and queued again
	times    Durations // run times of the jobs done here

	order int // when it was added: ties in free slots go to the older node
	index int // its place in nodeSet.byFree
	// key is the free slots nodeSet.byFree orders it by: free() but
	// while it is nodeSet.raised, when free() is larger.
	key int
}

func (ns *nodeState) free() int { return ns.capacity - ns.running }

// nodeSet holds the scheduler's nodes so that neither dispatching a job nor
// a node's report costs time that grows with the number of nodes (a client
// may know hundreds of discovered ppservers): a map finds a node, and a
// heap keeps the one with the most free slots on top, so a change costs
// O(log nodes).
//
// The commonest change costs nothing: while jobs are queued, every node is
// full, and each report frees a slot that the next dispatch fills at once.
// The node that reported is then the roomiest, and goes back to the place
// it had. So a node whose free slots rose is only noted (raised) and the
// heap is fixed when another change needs it in order. Guarded by
// Scheduler.mu.
type nodeSet struct {
	added  []*nodeState // in the order added, for Stats
	byNode map[Node]*nodeState
	byFree freeHeap
	// raised is a node whose free slots rose since byFree placed it, or
	// nil: at most one node's key is behind its free slots.
	raised *nodeState
}

func (s *nodeSet) add(n Node, capacity int) {
	if s.byNode == nil {
		s.byNode = make(map[Node]*nodeState)
	}
	ns := &nodeState{node: n, capacity: max(capacity, 0), order: len(s.added)}
	ns.key = ns.free()
	s.added = append(s.added, ns)
	s.byNode[n] = ns
	heap.Push(&s.byFree, ns)
}

// find returns n's state, or nil for a node never added.
func (s *nodeSet) find(n Node) *nodeState { return s.byNode[n] }

// changed restores the order after ns's capacity or running count changed.
func (s *nodeSet) changed(ns *nodeState) {
	switch free := ns.free(); {
	case free == ns.key: // back in the place it has: a dispatch refilled the slot it freed
		if s.raised == ns {
			s.raised = nil
		}
	case free > ns.key && (s.raised == nil || s.raised == ns):
		s.raised = ns
	default:
		s.settle()
		s.fix(ns)
	}
}

// settle places the raised node, if any, in the heap.
func (s *nodeSet) settle() {
	if r := s.raised; r != nil {
		s.raised = nil
		s.fix(r)
	}
}

func (s *nodeSet) fix(ns *nodeState) {
	ns.key = ns.free()
	heap.Fix(&s.byFree, ns.index)
}

// roomiest returns the node with the most free slots, or nil when no node
// has one.
func (s *nodeSet) roomiest() *nodeState {
	if r := s.raised; r != nil {
		// The heap is in order but for r, whose free slots only rose: if
		// it beats the top, it is the roomiest of all.
		if top := s.byFree[0]; top == r || ahead(r.free(), r.order, top.key, top.order) {
			if r.free() <= 0 {
				return nil
			}
			return r
		}
		s.settle()
	}
	if len(s.byFree) == 0 || s.byFree[0].key <= 0 {
		return nil
	}
	return s.byFree[0]
}

// ahead reports whether a node with free slots fa, added as oa, comes
// before one with fb, added as ob: the most free slots, then the oldest.
func ahead(fa, oa, fb, ob int) bool { return fa > fb || (fa == fb && oa < ob) }

// freeHeap is a max-heap of nodes by key (free slots), then by age.
type freeHeap []*nodeState

func (h freeHeap) Len() int { return len(h) }

func (h freeHeap) Less(i, j int) bool {
	return ahead(h[i].key, h[i].order, h[j].key, h[j].order)
}

func (h freeHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}

func (h *freeHeap) Push(x any) {
	ns := x.(*nodeState)
	ns.index = len(*h)
	*h = append(*h, ns)
}

func (h *freeHeap) Pop() any {
	old := *h
	ns := old[len(old)-1]
	*h = old[:len(old)-1]
	return ns
}
