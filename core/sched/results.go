package sched

import (
	"sync/atomic"
	"time"
)

// The client's side of a job: waiting for it, taking its result, groups,
// and the notification queue that feeds callbacks.

// Wait blocks until job id is finished or timeout passes (a negative
// timeout waits for ever) and reports whether it is finished. A job the
// scheduler no longer knows counts as finished.
func (s *Scheduler) Wait(id uint64, timeout time.Duration) bool {
	s.mu.Lock()
	j := s.jobs.get(id)
	if j == nil || j.state == jobFinished {
		s.mu.Unlock()
		return true
	}
	if timeout == 0 {
		s.mu.Unlock()
		return false
	}
	done := s.waiters[id]
	if done == nil {
		done = make(chan struct{})
		s.waiters[id] = done
	}
	running := j.state == jobSent
	s.mu.Unlock()
	if running && s.spin.wait(done, timeout) {
		return true
	}
	return waitChan(done, timeout)
}

// spinPolicy is how long Wait polls a running job before it sleeps.
//
// A short job's result comes back within tens of microseconds. A waiter
// that sleeps until then costs a second thread hand-off: the goroutine
// that reads the result can only wake the waiting thread, and on a
// virtual machine waking a thread on an idle CPU costs about as much as
// the job's whole round trip. A waiter that keeps its CPU is woken by
// nothing: it sees the job finish. That pays only while the machine has a
// CPU to spare, though: on a busy one the CPU the poll burns is the one
// the worker, and the goroutine that reads its result, are waiting for.
// (On Linux a woken worker need not preempt a poller that has just got
// its CPU, so it may wait for the poller's time slice to end.) So each
// poll that runs out halves the next one, down to minWaitSpin, and one
// that sees its job finish restores waitSpin; every spinProbe-th wait
// polls for waitSpin anyway, to find out whether the machine has quietened.
type spinPolicy struct {
	budget atomic.Int64  // nanoseconds; 0 until the first wait, which uses waitSpin
	waits  atomic.Uint64 // counts waits, to pick the probes
}

// wait polls done for the current budget, or timeout (<0: no limit) if
// shorter, and reports whether done was closed.
func (p *spinPolicy) wait(done <-chan struct{}, timeout time.Duration) bool {
	budget := time.Duration(p.budget.Load())
	if budget == 0 {
		budget = waitSpin
	}
	spin, cut := budget, false
	if p.waits.Add(1)%spinProbe == 0 {
		spin = waitSpin // a probe; if it runs out, the budget halves as usual
	}
	if timeout >= 0 && timeout < spin {
		spin, cut = timeout, true
	}
	deadline := time.Now().Add(spin)
	for {
		select {
		case <-done:
			p.budget.Store(int64(waitSpin))
			return true
		default:
		}
		if !time.Now().Before(deadline) {
			if !cut { // a caller's short timeout says nothing of the machine
				p.budget.Store(int64(max(budget/2, minWaitSpin)))
			}
			return false
		}
	}
}

// Result returns job id's result once it has one.
func (s *Scheduler) Result(id uint64) (Result, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs.get(id)
	if j == nil || !j.state.hasResult() {
		return Result{}, false
	}
	return j.result(), true
}

// Watch asks for job id to go on the notification queue when it finishes,
// as if it had been submitted with Notify (its client wants to be told: a
// done callback, an await), and reports whether it will. A job already
// finished, forgotten or unknown will not: its result is read as it is.
func (s *Scheduler) Watch(id uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs.get(id)
	switch {
	case j == nil || j.forgotten || s.closed:
		return false
	case j.state == jobQueued || j.state == jobSent:
		j.Notify = true
		return true
	}
	return j.state == jobNotified
}

// Signal asks for job id's ID to be handed out by TakeSignalled once the
// job is finished (for a Notify job: once Released), and reports whether
// it will be. A job finished already, or unknown, will not.
//
// It is the cheap way to be told: no thread waits on the scheduler, the
// onSignal function given to SetSignal is called instead (the Python client
// has it write to a pipe an asyncio loop watches).
func (s *Scheduler) Signal(id uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs.get(id)
	if j == nil || j.state == jobFinished {
		return false
	}
	j.signal = true
	return true
}

// SetSignal sets the function called each time a signalled job finishes
// while none is waiting to be taken; nil calls nothing. It is called with
// the scheduler locked, so it must return at once and not call back into
// the scheduler. Once SetSignal returns the previous function is not
// called again; nor is any once the scheduler is closed.
func (s *Scheduler) SetSignal(onSignal func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.onSignal = onSignal
	}
}

// TakeSignalled hands out the IDs of up to max signalled jobs that have
// finished, oldest first, without waiting.
func (s *Scheduler) TakeSignalled(max int) []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return takeIDs(&s.signalled, max)
}

// takeIDs removes and returns the first max IDs of *q (a copy: *q's array
// is appended to again).
func takeIDs(q *[]uint64, max int) []uint64 {
	n := min(len(*q), max)
	ids := append([]uint64(nil), (*q)[:n]...)
	if *q = (*q)[n:]; len(*q) == 0 {
		*q = nil
	}
	return ids
}

// Release marks a Notify job as finished once its client has handled the
// notification (run the callback), and forgets it. A job without its
// result yet is left alone; one already finished (by Close, or a job
// without Notify) is just forgotten.
func (s *Scheduler) Release(id uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j := s.jobs.get(id); j != nil && j.state.hasResult() {
		s.forgetLocked(j)
	}
}

// Forget drops the record of job id. A job still pending keeps running, but
// its result is dropped when it arrives.
func (s *Scheduler) Forget(id uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j := s.jobs.get(id); j != nil {
		s.forgetLocked(j)
	}
}

// WaitGroup blocks until every job of group (every job at all when all is
// true) is finished, or timeout passes; it reports whether they are.
func (s *Scheduler) WaitGroup(group string, all bool, timeout time.Duration) bool {
	s.mu.Lock()
	g := &s.all
	if !all {
		g = s.groups[group]
	}
	if g == nil || g.pending == 0 {
		s.mu.Unlock()
		return true
	}
	idle := g.idle
	s.mu.Unlock()
	return waitChan(idle, timeout)
}

// NextNotified returns the IDs of up to max completed Notify jobs, waiting
// up to timeout for one. ok is false once the scheduler is closed.
func (s *Scheduler) NextNotified(max int, timeout time.Duration) (ids []uint64, ok bool) {
	for attempt := 0; attempt < 2; attempt++ {
		s.mu.Lock()
		if len(s.notified) > 0 {
			ids = takeIDs(&s.notified, max)
			s.mu.Unlock()
			return ids, true
		}
		closed := s.closed
		s.mu.Unlock()
		if closed || attempt == 1 {
			return nil, !closed
		}
		timer := time.NewTimer(timeout)
		select {
		case <-s.wakeup:
		case <-s.closedCh:
		case <-timer.C:
		}
		timer.Stop()
	}
	return nil, true
}

func (s *Scheduler) groupLocked(name string) *groupState {
	g := s.groups[name]
	if g == nil {
		g = &groupState{name: name}
		s.groups[name] = g
	}
	return g
}

func (g *groupState) add() {
	if g.pending == 0 {
		g.idle = make(chan struct{})
	}
	g.pending++
}

// done counts one job out and reports whether the group is now idle.
func (g *groupState) done() bool {
	g.pending--
	if g.pending == 0 {
		close(g.idle)
		return true
	}
	return false
}

func waitChan(ch chan struct{}, timeout time.Duration) bool {
	select {
	case <-ch:
		return true
	default:
	}
	if timeout == 0 {
		return false
	}
	if timeout < 0 {
		<-ch
		return true
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-ch:
		return true
	case <-timer.C:
		return false
	}
}
