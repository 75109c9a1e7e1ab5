package sched

import (
	"fmt"
	"time"

	"github.com/ppgo/ppgo/core/shm"
)

// Func is the shipped form of a job's function: source text the worker
// executes once, identified by a key that is equal for equal source. Nodes
// cache by key, so the source crosses each pipe or connection only once.
type Func struct {
	Key    uint64
	Source []byte
}

// Job is one unit of work. Its payloads are opaque bytes to the core.
//
// A Job is submitted once. Nodes read only its exported fields; the rest is
// the scheduler's record of it, so that dispatch and Finish need no look-up.
// A client may queue millions of jobs, so the record is kept small (128
// bytes, a size class of its own): the fields are ordered to leave no
// padding, and the channel a waiter needs lives in Scheduler.waiters, made
// only for a job someone waits for.
type Job struct {
	ID    uint64
	Group string
	Func  *Func
	Args  []byte
	// Segment holds the arguments' large buffers (out-of-band pickle
	// buffers), nil for most jobs. The scheduler owns it from Submit and
	// closes it when the job completes: a retry after a worker death
	// sends it again.
	Segment *shm.Segment
	// Timeout is the longest the job may run, counted from when a worker
	// starts it (not from Submit: time spent queued, or waiting in a
	// worker's pipe behind another job, does not count); 0 means no limit.
	// A job that runs longer has its worker killed and finishes with
	// StatusTimedOut; it is not retried, since it would only run as long
	// again.
	Timeout time.Duration
	// Notify puts the job on the notification queue when it completes
	// and delays its "finished" state until Release: the client runs a
	// callback in between.
	Notify bool

	// The scheduler's record of the job, guarded by Scheduler.mu. A Job
	// no scheduler takes (a ppserver's) keeps the zero values.
	state     jobState // changed only by the transitions in state.go
	status    Status   // how it ended: valid in jobNotified and jobFinished
	forgotten bool     // the client no longer wants it: drop it once finished
	signal    bool     // put its ID on Scheduler.signalled once finished
	attempts  uint16   // losses counted against MaxAttempts (at most maxMaxAttempts)
	// data is its Result's Data, or for any status but StatusDone the
	// bytes of its Message; valid with status. segment is its Result's
	// Segment, closed when the job is dropped.
	data    []byte
	segment *shm.Segment
	node    *nodeState // the node a job in state sent was dispatched to
	ticket  int64      // its place in Scheduler.queue, while queued
}

// result is the job's Result, once it has one.
func (j *Job) result() Result {
	if j.status == StatusDone {
		return Result{Status: j.status, Data: j.data, Segment: j.segment}
	}
	return Result{Status: j.status, Message: string(j.data)}
}

// Outcome is what a node reports for a job it was given.
type Outcome struct {
	// Data is the worker's serialized result, valid when Lost is nil.
	Data []byte
	// Segment holds the result's large buffers, or nil; the scheduler
	// owns it from the report on.
	Segment *shm.Segment
	// Lost is non-nil when the node could not complete the job through no
	// fault of the job's own code (worker died, connection broke): the
	// scheduler re-queues it or, after too many attempts, fails it.
	Lost error
	// Unsent marks a lost job the node never started (it was handed over
	// as the node disconnected): it is re-queued without counting an
	// attempt against it.
	Unsent bool
	// TimedOut marks a lost job that ran longer than its Timeout, so its
	// node killed the worker running it; Lost says so, in words the client
	// shows. The scheduler finishes it with StatusTimedOut and does not
	// retry it. (The jobs that waited behind it on that worker are lost
	// the ordinary way.)
	TimedOut bool
	// Elapsed is the time the job ran on the node.
	Elapsed time.Duration
}

// Status says how a job ended.
type Status uint8

const (
	// StatusDone means Result.Data holds the worker's serialized result.
	StatusDone Status = iota
	// StatusFailed means the job could not be run; Result.Message says why.
	StatusFailed
	// StatusCancelled means the job was cancelled before it started
	// (Scheduler.Cancel), or the scheduler closed before it completed.
	StatusCancelled
	// StatusTimedOut means the job ran longer than its Timeout and its
	// worker was killed; Result.Message names the limit.
	StatusTimedOut
)

// Result is a completed job as the client sees it.
type Result struct {
	Status  Status
	Data    []byte
	Message string
	// Segment holds Data's large buffers, or nil. It stays the
	// scheduler's, and is closed when the client forgets the job.
	Segment *shm.Segment
}

// Why the scheduler cancelled a job. Close cancels every pending job,
// perhaps a million, so each message is kept once (sharedMessages) rather
// than copied into every job.
const (
	cancelledMessage = "cancelled"
	destroyedMessage = "server destroyed before the job completed"
)

var sharedMessages = map[string][]byte{
	cancelledMessage: []byte(cancelledMessage),
	destroyedMessage: []byte(destroyedMessage),
}

// messageBytes is msg as a job record keeps it; never written to.
func messageBytes(msg string) []byte {
	if b, ok := sharedMessages[msg]; ok {
		return b
	}
	return []byte(msg)
}

// Node is a place jobs run: the local worker pool or a remote ppserver.
type Node interface {
	// Name identifies the node in statistics ("local", "host:port").
	Name() string
	// Dispatch hands the node a job. The scheduler never gives a node more
	// jobs than its capacity, so Dispatch must not block for long; the node
	// reports the outcome later through Scheduler.Finish.
	Dispatch(j *Job)
	// Cancel asks the node to give up j, a job it was dispatched and has
	// not reported; the answer says whether it will still report j
	// (CancelResult). The scheduler calls it with its lock held, so that
	// no report of j can slip in between the question and the answer:
	// Cancel must not block and must not call the Reporter. The scheduler
	// asks only about a job it has not heard of, so a node that does not
	// hold j (Dispatch has yet to hand it over, or its report is on the
	// way) still owes its report: it must not answer Withdrawn.
	Cancel(j *Job) CancelResult
}

// CancelResult is a node's answer to Cancel: what becomes of the job, and
// whether the node still owes the scheduler its report, which is what
// keeps the scheduler's count of the node's running jobs (its capacity in
// use) exact.
type CancelResult uint8

const (
	// NotCancelled: the job has started, or a worker has been handed it
	// (it waits in the worker's pipe), and it runs to the end. The node
	// reports it as usual; the job is not cancelled.
	NotCancelled CancelResult = iota
	// Withdrawn: the node dropped the job before anything ran it, and will
	// never report it. Its slot is free at once; the job is cancelled.
	Withdrawn
	// Abandoned: the job is cancelled, but the node still owes a report of
	// it, and it may even run: a remote node has it on the wire, and drops
	// it only if the ppserver has not started it. The report is stale when
	// it comes, and only frees the slot, which stays in use until then as
	// the ppserver's credit does.
	Abandoned
)

func (c CancelResult) String() string {
	switch c {
	case NotCancelled:
		return "not cancelled"
	case Withdrawn:
		return "withdrawn"
	case Abandoned:
		return "abandoned"
	}
	return fmt.Sprintf("CancelResult(%d)", uint8(c))
}

// NodeStats is a snapshot of one node's counters.
type NodeStats struct {
	Name     string
	Capacity int
	Running  int
	Jobs     int
	Busy     time.Duration
	// Failed counts the jobs that ended failed (lost once too often) or
	// timed out on the node; Retried those it lost that went back to the
	// queue, to run again here or elsewhere.
	Failed  uint64
	Retried uint64
	// Times holds the run times of the Jobs the node did.
	Times Durations
}

// Counts is a snapshot of the scheduler's own counters.
type Counts struct {
	Queued    int    // jobs waiting for a node
	Pending   int    // jobs submitted and not yet finished
	Cancelled uint64 // jobs cancelled before they ran (Cancel or Close)
}
