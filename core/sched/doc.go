// Package sched is the job scheduler: a FIFO queue, job groups, dispatch to
// nodes by free capacity, retries of jobs a node lost, and completion
// notification. It knows nothing of Python or processes; nodes (the local
// pool, remote ppservers) plug in through the Node interface.
//
// # A job's life
//
// The scheduler keeps its record of a job on the Job itself (state.go holds
// the states and every transition between them):
//
//	        new
//	         |  Submit
//	         v
//	      queued <----------------------+
//	       |  |  a node has room        |  lost with attempts left,
//	       |  v                         |  or handed back unsent
//	       | sent ----------------------+
//	       |  |  done, timed out, lost with no attempts left,
//	       |  |  or Cancel that the node withdrew or abandoned
//	Cancel |  v
//	       +-(result) --Notify, not forgotten--> notified
//	          |                                     |  Release, Forget,
//	          v                                     |  Close
//	       finished <-------------------------------+
//
// A job is pending, for Wait, WaitGroup and Pending, until it is finished:
// a notified job has its result but waits for its client to run the
// callback and Release it. A finished job's Result.Status says how it
// ended: done, failed (lost MaxAttempts times), timed out (it ran longer
// than its Timeout, and is never retried), or cancelled.
//
// Cancel takes a queued job off the queue, and completes it cancelled. A
// sent job is cancelled only if its node gives it up (Node.Cancel): the
// node withdraws it, and will never report it, so its slot is free at
// once; or abandons it, and still reports it, a stale report that only
// frees the slot. A job a node has started is not cancelled.
//
// Close takes queued and sent jobs straight to finished with
// StatusCancelled (a closed scheduler notifies no one) and notified jobs
// to finished; a node's later report of a job it was running is stale and
// only frees the slot.
//
// Forget marks a job forgotten: a finished job leaves the scheduler at
// once, and its ID becomes unknown (Wait counts it finished, Result has
// none); a notified one is finished and leaves; a queued or sent one runs
// on and leaves when it finishes, without being notified. Release is
// Forget for a job that has its result, and does nothing to one that has
// not.
//
// A client learns that a job finished in one of three ways: it blocks in
// Wait; it takes Notify jobs from NextNotified (a thread that runs
// callbacks); or it asks Signal, and the scheduler calls the function given
// to SetSignal as signalled jobs finish and hands their IDs out through
// TakeSignalled (an event loop woken through a pipe, no thread waiting).
//
// # Lock order
//
// Scheduler.mu is never held while calling into a Node, so a node may call
// Finish from any goroutine, including from inside Dispatch. The
// exceptions are Node.Cancel, called with Scheduler.mu held so that the
// node's answer and its report of the same job cannot cross, and the
// SetSignal function; both must neither block nor call the scheduler, and
// the node must never hold the locks Cancel takes while it calls the
// scheduler.
package sched
