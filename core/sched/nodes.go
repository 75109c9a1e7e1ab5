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
}

func (ns *nodeState) free() int { return ns.capacity - ns.running }

// nodeSet holds the scheduler's nodes so that neither dispatching a job nor
// a node's report costs time that grows with the number of nodes (a client
// may know hundreds of discovered ppservers): a map finds a node, and a
// heap keeps the one with the most free slots on top. Guarded by
// Scheduler.mu.
type nodeSet struct {
	added  []*nodeState // in the order added, for Stats
	byNode map[Node]*nodeState
	byFree freeHeap
}

func (s *nodeSet) add(n Node, capacity int) {
	if s.byNode == nil {
		s.byNode = make(map[Node]*nodeState)
	}
	ns := &nodeState{node: n, capacity: max(capacity, 0), order: len(s.added)}
	s.added = append(s.added, ns)
	s.byNode[n] = ns
	heap.Push(&s.byFree, ns)
}

// find returns n's state, or nil for a node never added.
func (s *nodeSet) find(n Node) *nodeState { return s.byNode[n] }

// changed restores the order after ns's capacity or running count changed.
func (s *nodeSet) changed(ns *nodeState) { heap.Fix(&s.byFree, ns.index) }

// roomiest returns the node with the most free slots, or nil when no node
// has one.
func (s *nodeSet) roomiest() *nodeState {
	if len(s.byFree) == 0 || s.byFree[0].free() <= 0 {
		return nil
	}
	return s.byFree[0]
}

// freeHeap is a max-heap of nodes by free slots, then by age.
type freeHeap []*nodeState

func (h freeHeap) Len() int { return len(h) }

func (h freeHeap) Less(i, j int) bool {
	fi, fj := h[i].free(), h[j].free()
	return fi > fj || (fi == fj && h[i].order < h[j].order)
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
