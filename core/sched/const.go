package sched

import (
	"math"
	"time"
)

// Limits of the scheduler, named in one place.
const (
	// DefaultMaxAttempts is how many times a job is started before a node
	// losing it (a worker that dies, a connection that breaks) fails the job
	// instead of re-queueing it. A job that kills every worker it runs on must
	// not crash-loop the pool forever.
	DefaultMaxAttempts = 3

	// maxMaxAttempts bounds Config.MaxAttempts so that a job's count of
	// attempts fits the two bytes its record has for it.
	maxMaxAttempts = math.MaxUint16

	// waitSpin is the longest Wait polls a job that a node is running
	// before it sleeps (spinPolicy): about a short job's round trip
	// through a local worker, so that waiting for one costs no thread
	// wake-up, while waiting for a long job costs this much CPU once per
	// wait. minWaitSpin is the shortest, where a busy machine takes it.
	waitSpin    = 100 * time.Microsecond
	minWaitSpin = 5 * time.Microsecond
	// spinProbe: every spinProbe-th Wait polls for waitSpin, whatever
	// the polls before it found, so a machine that has quietened gets its
	// polls back within that many waits.
	spinProbe = 16
)
