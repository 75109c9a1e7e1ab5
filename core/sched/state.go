package sched

import (
	"fmt"
	"slices"
)

// jobState is where a job is in its life (the diagram is in doc.go). Only
// the transition methods below change it.
type jobState uint8

const (
	// jobNew is a Job no scheduler has taken: the zero value, and where a
	// Job that a node runs without a scheduler (a ppserver's) stays.
	jobNew jobState = iota
	// jobQueued waits in Scheduler.queue for a node with a free slot.
	jobQueued
	// jobSent is held by a node, which owes the scheduler one report.
	jobSent
	// jobNotified has its result and is on the notification queue; it
	// stays pending until its client has run the callback and releases it.
	jobNotified
	// jobFinished has its result, has woken its waiters and is counted out
	// of its group. It stays readable until its client forgets it.
	jobFinished
)

var jobStateNames = [...]string{
	jobNew:      "new",
	jobQueued:   "queued",
	jobSent:     "sent",
	jobNotified: "notified",
	jobFinished: "finished",
}

func (st jobState) String() string {
	if int(st) < len(jobStateNames) {
		return jobStateNames[st]
	}
	return fmt.Sprintf("jobState(%d)", st)
}

// hasResult reports whether a job in state st has its Result.
func (st jobState) hasResult() bool { return st == jobNotified || st == jobFinished }

// The transitions. Each runs with Scheduler.mu held and checks the states it
// may come from: reaching one from any other state is a bug in this package,
// and it panics rather than count a group out twice or close a done channel
// twice. Calls that may come in any state (a node's report, Release, Forget)
// check the state before they choose a transition.

// submitLocked gives j its ID and queues it at the tail: new → queued.
func (s *Scheduler) submitLocked(j *Job) {
	expect(j, "submit", jobNew)
	s.lastID++
	j.ID = s.lastID
	j.state = jobQueued
	s.jobs.put(j)
	g := s.groupLocked(j.Group)
	j.Group = g.name // each submit brings its own copy of the name: keep one
	g.add()
	s.all.add()
	s.queue.PushBack(j)
}

// sendLocked takes the job at the head of the queue for node ns: queued
// → sent.
func (s *Scheduler) sendLocked(ns *nodeState) *Job {
	j := s.queue.PopFront()
	expect(j, "send", jobQueued)
	j.state = jobSent
	j.node = ns
	return j
}

// lostLocked handles a sent job its node could not complete. A job that
// ran past its timeout is finished as timed out (sent → notified or
// finished): run again, it would only be killed again, after as long.
// Any other goes back to the head of the queue, having waited longest
// (sent → queued), or, once it has been started MaxAttempts times, fails
// (sent → notified or finished). A job the node never started costs no
// attempt. It reports whether j went back to the queue.
func (s *Scheduler) lostLocked(j *Job, o Outcome) (requeued bool) {
	expect(j, "requeue", jobSent)
	switch {
	case o.TimedOut:
		s.completeLocked(j, Result{Status: StatusTimedOut, Message: o.Lost.Error()})
		return false
	case o.Unsent:
	case int(j.attempts)+1 < s.maxAttempts:
		j.attempts++
	default:
		msg := fmt.Sprintf("failed after %d attempts: %v", j.attempts+1, o.Lost)
		s.completeLocked(j, Result{Status: StatusFailed, Message: msg})
		return false
	}
	j.state = jobQueued
	j.node = nil
	s.queue.PushFront(j)
	return true
}

// cancelLocked cancels j for its client before it has run: a queued job
// is taken off the queue, a sent one has been withdrawn or abandoned by
// its node (Scheduler.Cancel settles the node's slot); queued or sent →
// notified or finished, as any job that completes.
func (s *Scheduler) cancelLocked(j *Job) {
	expect(j, "cancel", jobQueued, jobSent)
	if j.state == jobQueued {
		s.queue.Remove(j)
	}
	s.cancelled++
	s.completeLocked(j, Result{Status: StatusCancelled, Message: cancelledMessage})
}

// completeLocked gives j its result: sent → notified when its client runs
// a callback first, else → finished. A queued job completes only when
// cancelled, and its canceller takes it off the queue. A forgotten job has
// no one to call back, and a closed scheduler calls no one back: both
// finish at once.
func (s *Scheduler) completeLocked(j *Job, r Result) {
	expect(j, "complete", jobQueued, jobSent)
	j.status, j.data, j.segment = r.Status, r.Data, r.Segment
	if r.Status != StatusDone {
		j.data = messageBytes(r.Message)
	}
	j.node = nil
	_ = j.Segment.Close() // no node will be sent the job again
	if !j.Notify || j.forgotten || s.closed {
		s.finishLocked(j)
		return
	}
	j.state = jobNotified
	s.notified = append(s.notified, j.ID)
	select {
	case s.wakeup <- struct{}{}:
	default:
	}
}

// finishLocked ends j's pending life, with its result already set: queued
// or sent (through completeLocked), or notified → finished. It wakes j's
// waiters, counts j out of its group, and drops j if it was forgotten.
func (s *Scheduler) finishLocked(j *Job) {
	expect(j, "finish", jobQueued, jobSent, jobNotified)
	j.state = jobFinished
	if done := s.waiters[j.ID]; done != nil {
		close(done)
		delete(s.waiters, j.ID)
	}
	if g := s.groups[j.Group]; g != nil && g.done() {
		delete(s.groups, j.Group)
	}
	s.all.done()
	if j.signal {
		s.signalled = append(s.signalled, j.ID)
		if len(s.signalled) == 1 && s.onSignal != nil {
			s.onSignal()
		}
	}
	if j.forgotten {
		s.dropLocked(j)
	}
}

// forgetLocked marks j as no longer wanted. A finished job is dropped at
// once; a notified one is finished (and so dropped) without waiting for
// Release; a queued or sent one is dropped when it finishes.
func (s *Scheduler) forgetLocked(j *Job) {
	expect(j, "forget", jobQueued, jobSent, jobNotified, jobFinished)
	j.forgotten = true
	switch j.state {
	case jobNotified:
		s.finishLocked(j)
	case jobFinished:
		s.dropLocked(j)
	}
}

// dropLocked forgets a finished job the client no longer wants, and frees
// its result's segment.
func (s *Scheduler) dropLocked(j *Job) {
	s.jobs.remove(j.ID)
	_ = j.segment.Close()
}

// expect panics unless j is in one of the states the transition named
// what may start from.
func expect(j *Job, what string, from ...jobState) {
	if !slices.Contains(from, j.state) {
		panic(fmt.Sprintf("sched: %s job %d: not from state %s", what, j.ID, j.state))
	}
}
