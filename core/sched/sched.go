// Package sched is the job scheduler: a FIFO queue, job groups, dispatch to
// nodes by free capacity, retries of jobs a node lost, and completion
// notification. It knows nothing of Python or processes; nodes (the local
// pool, remote ppservers) plug in through the Node interface.
//
// Lock order: Scheduler.mu is never held while calling into a Node, so a
// node may call Finish from any goroutine, including from inside Dispatch.
package sched

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrClosed is returned by Submit after Close.
var ErrClosed = errors.New("sched: scheduler is closed")

// Config tunes a Scheduler.
type Config struct {
	// MaxAttempts bounds how often a lost job is started; 0 means
	// DefaultMaxAttempts.
	MaxAttempts int
}

// entry is the scheduler's record of a submitted job until the client
// forgets it.
type entry struct {
	job     *Job
	ready   bool // result is set
	result  Result
	done    chan struct{} // closed when finished (for Notify jobs: on Release)
	discard bool          // the client no longer wants the result
}

// groupState counts a group's unfinished jobs; idle is closed at zero.
type groupState struct {
	pending int
	idle    chan struct{}
}

type nodeState struct {
	node     Node
	capacity int
	running  int
	jobs     int
	busy     time.Duration
}

type dispatch struct {
	node Node
	job  *Job
}

// Scheduler queues jobs and dispatches them to nodes with free capacity.
type Scheduler struct {
	maxAttempts int

	mu       sync.Mutex
	closed   bool
	closedCh chan struct{}
	lastID   uint64
	queue    jobQueue
	nodes    []*nodeState
	entries  map[uint64]*entry
	groups   map[string]*groupState
	all      groupState
	notified []uint64
	wakeup   chan struct{} // capacity 1: "notified is not empty"
}

// New returns an empty scheduler with no nodes.
func New(cfg Config) *Scheduler {
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	return &Scheduler{
		maxAttempts: cfg.MaxAttempts,
		closedCh:    make(chan struct{}),
		entries:     make(map[uint64]*entry),
		groups:      make(map[string]*groupState),
		wakeup:      make(chan struct{}, 1),
	}
}

// AddNode registers a node able to run capacity jobs at once.
func (s *Scheduler) AddNode(n Node, capacity int) {
	s.mu.Lock()
	s.nodes = append(s.nodes, &nodeState{node: n, capacity: max(capacity, 0)})
	ds := s.fillLocked(nil)
	s.mu.Unlock()
	send(ds)
}

// SetCapacity changes how many jobs a node may run at once. Shrinking below
// the jobs it is running lets them finish; it just gets no new ones.
func (s *Scheduler) SetCapacity(n Node, capacity int) {
	s.mu.Lock()
	if ns := s.nodeLocked(n); ns != nil {
		ns.capacity = max(capacity, 0)
	}
	ds := s.fillLocked(nil)
	s.mu.Unlock()
	send(ds)
}

// Submit queues j, assigns and returns its ID, and dispatches it at once if
// a node has room.
func (s *Scheduler) Submit(j *Job) (uint64, error) {
	var buf [2]dispatch
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, ErrClosed
	}
	s.lastID++
	j.ID = s.lastID
	j.attempts = 0
	s.entries[j.ID] = &entry{job: j, done: make(chan struct{})}
	s.groupLocked(j.Group).add()
	s.all.add()
	s.queue.PushBack(j)
	ds := s.fillLocked(buf[:0])
	s.mu.Unlock()
	send(ds)
	return j.ID, nil
}

// Finish is how a node reports the outcome of a job it was dispatched.
func (s *Scheduler) Finish(n Node, j *Job, o Outcome) {
	var buf [2]dispatch
	s.mu.Lock()
	ns := s.nodeLocked(n)
	if ns != nil {
		ns.running--
	}
	e := s.entries[j.ID]
	if e == nil || e.ready || e.job != j {
		// Cancelled by Close, or a stale report; only free the capacity.
		ds := s.fillLocked(buf[:0])
		s.mu.Unlock()
		send(ds)
		return
	}
	switch {
	case o.Lost == nil:
		if ns != nil {
			ns.jobs++
			ns.busy += o.Elapsed
		}
		s.completeLocked(e, Result{Status: StatusDone, Data: o.Data})
	case o.Unsent:
		s.queue.PushFront(j)
	case j.attempts+1 < s.maxAttempts:
		j.attempts++
		s.queue.PushFront(j)
	default:
		msg := fmt.Sprintf("failed after %d attempts: %v", j.attempts+1, o.Lost)
		s.completeLocked(e, Result{Status: StatusFailed, Message: msg})
	}
	ds := s.fillLocked(buf[:0])
	s.mu.Unlock()
	send(ds)
}

// Pending is the number of submitted jobs not yet finished.
func (s *Scheduler) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.all.pending
}

// Queued returns the IDs of the jobs waiting for a node, in the order
// they will be dispatched.
func (s *Scheduler) Queued() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queue.IDs()
}

// Stats returns a snapshot of every node's counters, in the order added.
func (s *Scheduler) Stats() []NodeStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]NodeStats, 0, len(s.nodes))
	for _, ns := range s.nodes {
		out = append(out, NodeStats{
			Name: ns.node.Name(), Capacity: ns.capacity, Running: ns.running,
			Jobs: ns.jobs, Busy: ns.busy,
		})
	}
	return out
}

// Close cancels every unfinished job (waiters wake with StatusCancelled)
// and refuses new ones. Nodes are not closed: their owner does that.
func (s *Scheduler) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	close(s.closedCh)
	s.queue.Drain()
	for id, e := range s.entries {
		if !e.ready {
			e.ready = true
			e.result = Result{Status: StatusCancelled, Message: "server destroyed before the job completed"}
		}
		if !isClosed(e.done) {
			s.finishLocked(e)
		}
		if e.discard {
			delete(s.entries, id)
		}
	}
	s.notified = nil
}

// completeLocked stores a job's result and, unless a callback must run
// first, finishes it.
func (s *Scheduler) completeLocked(e *entry, r Result) {
	e.ready = true
	e.result = r
	switch {
	case e.discard:
		s.finishLocked(e)
		delete(s.entries, e.job.ID)
	case e.job.Notify:
		s.notified = append(s.notified, e.job.ID)
		select {
		case s.wakeup <- struct{}{}:
		default:
		}
	default:
		s.finishLocked(e)
	}
}

// finishLocked wakes the job's waiters and counts it out of its group.
func (s *Scheduler) finishLocked(e *entry) {
	close(e.done)
	if g := s.groups[e.job.Group]; g != nil && g.done() {
		delete(s.groups, e.job.Group)
	}
	s.all.done()
}

// fillLocked takes queued jobs for nodes with free capacity, choosing the
// node with the most free slots first, and returns them to be sent once the
// lock is released.
func (s *Scheduler) fillLocked(ds []dispatch) []dispatch {
	for s.queue.Len() > 0 {
		var best *nodeState
		for _, ns := range s.nodes {
			if free := ns.capacity - ns.running; free > 0 && (best == nil || free > best.capacity-best.running) {
				best = ns
			}
		}
		if best == nil {
			break
		}
		j := s.queue.PopFront()
		best.running++
		ds = append(ds, dispatch{node: best.node, job: j})
	}
	return ds
}

func (s *Scheduler) nodeLocked(n Node) *nodeState {
	for _, ns := range s.nodes {
		if ns.node == n {
			return ns
		}
	}
	return nil
}

func send(ds []dispatch) {
	for _, d := range ds {
		d.node.Dispatch(d.job)
	}
}
