package sched

// Limits of the scheduler, named in one place.
const (
	// DefaultMaxAttempts is how many times a job is started before a node
	// losing it (a worker that dies, a connection that breaks) fails the job
	// instead of re-queueing it. A job that kills every worker it runs on must
	// not crash-loop the pool forever.
	DefaultMaxAttempts = 3
)
