package sched

import "time"

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
type Job struct {
	ID    uint64
	Group string
	Func  *Func
	Args  []byte
	// Notify puts the job on the notification queue when it completes
	// and delays its "finished" state until Release: the client runs a
	// callback in between.
	Notify bool

	// The scheduler's record of the job, guarded by Scheduler.mu. A Job
	// no scheduler takes (a ppserver's) keeps the zero values.
	state     jobState // changed only by the transitions in state.go
	attempts  int      // losses counted against MaxAttempts
	forgotten bool     // the client no longer wants it: drop it once finished
	result    Result   // valid in jobNotified and jobFinished
	ticket    int64    // its place in Scheduler.queue, while queued
	// done is closed on entering jobFinished. Submit makes it before the
	// job is in Scheduler.jobs, so whoever finds the job there may read
	// it without the lock.
	done chan struct{}
}

// Outcome is what a node reports for a job it was given.
type Outcome struct {
	// Data is the worker's serialized result, valid when Lost is nil.
	Data []byte
	// Lost is non-nil when the node could not complete the job through no
	// fault of the job's own code (worker died, connection broke): the
	// scheduler re-queues it or, after too many attempts, fails it.
	Lost error
	// Unsent marks a lost job the node never started (it was handed over
	// as the node disconnected): it is re-queued without counting an
	// attempt against it.
	Unsent bool
	// Elapsed is the time the job ran on the node.
	Elapsed time.Duration
}

// Status says how a job ended.
type Status int

const (
	// StatusDone means Result.Data holds the worker's serialized result.
	StatusDone Status = iota
	// StatusFailed means the job could not be run; Result.Message says why.
	StatusFailed
	// StatusCancelled means the scheduler closed before the job completed.
	StatusCancelled
)

// Result is a completed job as the client sees it.
type Result struct {
	Status  Status
	Data    []byte
	Message string
}

// Node is a place jobs run: the local worker pool or a remote ppserver.
type Node interface {
	// Name identifies the node in statistics ("local", "host:port").
	Name() string
	// Dispatch hands the node a job. The scheduler never gives a node more
	// jobs than its capacity, so Dispatch must not block for long; the node
	// reports the outcome later through Scheduler.Finish.
	Dispatch(j *Job)
}

// NodeStats is a snapshot of one node's counters.
type NodeStats struct {
	Name     string
	Capacity int
	Running  int
	Jobs     int
	Busy     time.Duration
}
