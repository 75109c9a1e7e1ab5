package sched

// Reporter is the scheduler as a node sees it: where a node reports what
// became of each job it was dispatched, and how many jobs it can take at
// once when that changes. It is declared here, next to Node, because every
// node (core/pool, core/remote) talks back through it; *Scheduler is one,
// and core/serve is another, standing in for the scheduler in front of a
// ppserver's pool.
type Reporter interface {
	// Finish reports job j's outcome on node n. A node may call it from any
	// goroutine, even from inside its own Dispatch.
	Finish(n Node, j *Job, o Outcome)
	// SetCapacity says how many jobs n may run at once from now on.
	SetCapacity(n Node, capacity int)
}

var _ Reporter = (*Scheduler)(nil)
