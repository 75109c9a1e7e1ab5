package sched

import (
	"errors"
	"fmt"
	"sync"
)

// ErrClosed is returned by Submit after Close.
var ErrClosed = errors.New("sched: scheduler is closed")

// Config tunes a Scheduler.
type Config struct {
	// MaxAttempts bounds how often a lost job is started; 0 means
	// DefaultMaxAttempts.
	MaxAttempts int
}

// groupState counts a group's unfinished jobs; idle is closed at zero.
// Guarded by Scheduler.mu.
type groupState struct {
	name    string // the one copy its pending jobs share
	pending int
	idle    chan struct{}
}

type dispatch struct {
	node Node
	job  *Job
}

// Scheduler queues jobs and dispatches them to nodes with free capacity.
type Scheduler struct {
	maxAttempts int        // set by New
	spin        spinPolicy // how long Wait polls; adapts without mu

	// mu guards everything below, and every Job's scheduler fields.
	mu       sync.Mutex
	closed   bool
	closedCh chan struct{} // closed by Close, to end NextNotified's wait
	lastID   uint64
	// cancelled counts jobs cancelled before they ran, for Counts.
	cancelled uint64
	queue     jobQueue // jobs in state queued, in dispatch order
	nodes     nodeSet
	jobs      jobTable // submitted jobs, until finished and forgotten
	// waiters holds a channel for each unfinished job that Wait has had to
	// block for, closed and dropped as the job finishes. Most jobs are never
	// waited for one by one, so they carry no channel of their own.
	waiters  map[uint64]chan struct{}
	groups   map[string]*groupState
	all      groupState
	notified []uint64      // IDs of jobs that became notified, until NextNotified hands them out
	wakeup   chan struct{} // capacity 1: "notified is not empty"
	// signalled holds the IDs of finished jobs someone asked to be
	// signalled of (Signal), until TakeSignalled hands them out; onSignal
	// is called, under mu, each time it stops being empty.
	signalled []uint64
	onSignal  func()
}

// New returns an empty scheduler with no nodes.
func New(cfg Config) *Scheduler {
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	cfg.MaxAttempts = min(cfg.MaxAttempts, maxMaxAttempts)
	return &Scheduler{
		maxAttempts: cfg.MaxAttempts,
		closedCh:    make(chan struct{}),
		jobs:        newJobTable(),
		waiters:     make(map[uint64]chan struct{}),
		groups:      make(map[string]*groupState),
		wakeup:      make(chan struct{}, 1),
	}
}

// AddNode registers a node able to run capacity jobs at once.
func (s *Scheduler) AddNode(n Node, capacity int) {
	s.mu.Lock()
	s.nodes.add(n, capacity)
	ds := s.fillLocked(nil)
	s.mu.Unlock()
	send(ds)
}

// SetCapacity changes how many jobs a node may run at once. Shrinking below
// the jobs it is running lets them finish; it just gets no new ones.
func (s *Scheduler) SetCapacity(n Node, capacity int) {
	s.mu.Lock()
	if ns := s.nodes.find(n); ns != nil {
		ns.capacity = max(capacity, 0)
		s.nodes.changed(ns)
	}
	ds := s.fillLocked(nil)
	s.mu.Unlock()
	send(ds)
}

// Submit queues j, assigns and returns its ID, and dispatches it at once if
// a node has room. j must be new: a Job is submitted once.
func (s *Scheduler) Submit(j *Job) (uint64, error) {
	var buf [2]dispatch
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = j.Segment.Close() // the scheduler owns it from Submit on
		return 0, ErrClosed
	}
	if j.state != jobNew {
		st := j.state
		s.mu.Unlock()
		return 0, fmt.Errorf("sched: job %d is %s: a Job is submitted once", j.ID, st)
	}
	s.submitLocked(j)
	ds := s.fillLocked(buf[:0])
	s.mu.Unlock()
	send(ds)
	return j.ID, nil
}

// Finish is how a node reports the outcome of a job it was dispatched.
func (s *Scheduler) Finish(n Node, j *Job, o Outcome) {
	var buf [2]dispatch
	s.mu.Lock()
	ns := s.nodes.find(n)
	if ns != nil {
		ns.running--
		s.nodes.changed(ns)
	}
	// Only a sent job is owed a report. Any other report is stale: a node
	// still ran a job that Close cancelled, or that Cancel cancelled while
	// a ppserver had it (and that may be gone from s.jobs since). It only
	// frees the slot.
	switch {
	case j.state != jobSent:
		// Stale: Close or Cancel finished the job already.
		_ = o.Segment.Close()
	case o.Lost != nil:
		_ = o.Segment.Close()
		requeued := s.lostLocked(j, o)
		switch {
		case ns == nil:
		case requeued:
			ns.retried++
		default:
			ns.failed++
		}
	default:
		if ns != nil {
			ns.jobs++
			ns.busy += o.Elapsed
			ns.times.Observe(o.Elapsed)
		}
		s.completeLocked(j, Result{Status: StatusDone, Data: o.Data, Segment: o.Segment})
	}
	ds := s.fillLocked(buf[:0])
	s.mu.Unlock()
	send(ds)
}

// Cancel cancels job id if it has not started, and reports whether it
// did. A queued job is cancelled at once. A sent one is cancelled if its
// node can still give it up (Node.Cancel): the local pool withdraws a job
// still in its backlog, a remote node abandons any job the ppserver has
// not reported (and asks the ppserver to drop it). A job a worker has
// been handed runs on, like one that has finished: Cancel returns false,
// as for a job it does not know.
//
// A cancelled job completes with StatusCancelled: it is finished, or, if
// it has Notify, notified first, so that whoever runs its callbacks hears
// of it as of any job that completes.
func (s *Scheduler) Cancel(id uint64) bool {
	var buf [2]dispatch
	s.mu.Lock()
	j := s.jobs.get(id)
	if j == nil || (j.state != jobQueued && j.state != jobSent) {
		s.mu.Unlock()
		return false
	}
	if j.state == jobSent {
		// With s.mu held, the node's answer and its reports cannot cross:
		// see Node.Cancel.
		ns := j.node
		switch ns.node.Cancel(j) {
		case NotCancelled:
			s.mu.Unlock()
			return false
		case Withdrawn:
			// The node will never report j: its slot is free now. (An
			// abandoned job's slot is freed by its stale report.)
			ns.running--
			s.nodes.changed(ns)
		}
	}
	s.cancelLocked(j)
	ds := s.fillLocked(buf[:0])
	s.mu.Unlock()
	send(ds)
	return true
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
	out := make([]NodeStats, 0, len(s.nodes.added))
	for _, ns := range s.nodes.added {
		out = append(out, NodeStats{
			Name: ns.node.Name(), Capacity: ns.capacity, Running: ns.running,
			Jobs: ns.jobs, Busy: ns.busy, Failed: ns.failed, Retried: ns.retried, Times: ns.times,
		})
	}
	return out
}

// Counts returns the scheduler's own counters.
func (s *Scheduler) Counts() Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Counts{Queued: s.queue.Len(), Pending: s.all.pending, Cancelled: s.cancelled}
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
	s.queue.Drain() // the loop below cancels every queued job
	s.notified = nil
	s.jobs.each(func(j *Job) {
		switch j.state {
		case jobQueued, jobSent:
			// Closed, the scheduler notifies no one: straight to finished.
			s.cancelled++
			s.completeLocked(j, Result{Status: StatusCancelled, Message: destroyedMessage})
		case jobNotified:
			s.finishLocked(j)
		}
	})
	s.onSignal = nil // the jobs above were the last to signal
}

// fillLocked takes queued jobs for nodes with free capacity, choosing the
// node with the most free slots first, and returns them to be sent once the
// lock is released.
func (s *Scheduler) fillLocked(ds []dispatch) []dispatch {
	for s.queue.Len() > 0 {
		best := s.nodes.roomiest()
		if best == nil {
			break
		}
		best.running++
		s.nodes.changed(best)
		ds = append(ds, dispatch{node: best.node, job: s.sendLocked(best)})
	}
	return ds
}

func send(ds []dispatch) {
	for _, d := range ds {
		d.node.Dispatch(d.job)
	}
}
