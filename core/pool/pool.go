// Package pool runs jobs on local worker interpreters: it spawns and
// supervises worker processes, talks to each over a dedicated pair of pipes
// with the framing in frame.go, remembers which worker has which function's
// source, grows and shrinks at run time, and replaces workers that die.
//
// A worker is handed its job pipe on file descriptor 3 and its result pipe
// on 4 (it moves them out of its jobs' reach); its stdin is /dev/null and
// its stdout/stderr are the client's, so nothing a job or a C library
// prints can corrupt the protocol. Since a job can still reach the pipes,
// the pool trusts nothing it reads (frame.go) and learns of a worker's
// death from its process, not from its pipes (worker.go).
//
// The pool keeps a backlog, a second queue behind the scheduler's. The
// scheduler hands the pool no more jobs than its capacity (target workers
// times depth), yet a job may find no worker with room: workers are still
// starting or being replaced, the depth has just fallen from
// MaxJobsPerWorker to 1, or the busy workers' current jobs have run too
// long to queue behind. Such a job waits in the backlog, first in first
// out, for the next worker that starts or frees up; Waiting lists it, and
// Cancel takes it back (for the scheduler, a job its client cancelled; for
// core/serve, the jobs of a client that left or cancelled them). A job a
// worker has been handed cannot be taken back: it runs to the end.
//
// A job with a Timeout is timed from when a ready worker starts it, and
// its worker is killed, and replaced, if it runs longer (worker.go).
//
// On a ppserver the backlog is the only queue: core/serve hands every job
// a client sends straight to the pool, so there it holds what the clients'
// credits allow beyond the workers' room, all clients' jobs in the order
// they arrived.
package pool

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ppgo/ppgo/core/sched"
)

// errPoolClosed ends a worker that was still to start when the pool closed.
var errPoolClosed = errors.New("pool closed")

// Config describes the worker interpreters.
type Config struct {
	// Argv starts one worker: Argv[0] is the executable's path.
	Argv []string
	// Env is the workers' environment; Dir their working directory.
	Env []string
	Dir string
	// Workers is the initial number of worker processes.
	Workers int
	// Restart replaces a worker after every job it completes.
	Restart bool
	// Name is the node's name in statistics; "local" when empty.
	Name string
	// MaxResult is the largest result, in bytes, the pool accepts from a
	// worker; 0 means DefaultMaxResult. A worker that announces a larger
	// one is killed and its job lost with what it announced.
	MaxResult int
	// Spares are worker processes already started with this Argv, Env and
	// Dir (spare.go): the first workers the pool starts are these. The
	// pool owns them from New on, and kills any it does not need.
	Spares []Spare
}

// Pool is a sched.Node backed by local worker processes.
type Pool struct {
	cfg Config
	rep sched.Reporter

	closing chan struct{} // closed by Close: wakes respawn delays

	capMu sync.Mutex // held while reporting the capacity; before mu

	mu      sync.Mutex
	closed  bool
	target  int
	workers []*worker
	backlog []*sched.Job  // dispatched while no worker had room; see the package doc
	backoff time.Duration // delay before the next respawn after early deaths
	spares  []*spare      // started before the pool, for its first workers
	running sync.WaitGroup

	// The running average of job run times picks the depth: how many jobs
	// each worker may be handed at once.
	runtime average
	depth   int
}

// average is a running average of job run times.
type average struct {
	mean  time.Duration
	count int
}

func (a *average) add(d time.Duration) {
	a.count++
	if a.count == 1 {
		a.mean = d
		return
	}
	a.mean += (d - a.mean) / averageWeight
}

// short reports whether jobs have been short enough to pipeline.
func (a *average) short() bool { return a.count > 0 && a.mean < pipelineBelow }

// New starts a pool of cfg.Workers workers in the background. It reports
// every job's outcome to rep, and its capacity whenever that changes with
// the length of jobs.
func New(cfg Config, rep sched.Reporter) (*Pool, error) {
	spares := adoptSpares(cfg.Spares)
	cfg.Spares = nil // the descriptors are the pool's now, not the config's
	p, err := newPool(cfg, rep, spares)
	if err != nil {
		for _, s := range spares {
			s.discard()
		}
		return nil, err
	}
	return p, nil
}

func newPool(cfg Config, rep sched.Reporter, spares []*spare) (*Pool, error) {
	if len(cfg.Argv) == 0 {
		return nil, errors.New("pool: no worker command")
	}
	if cfg.Workers < 0 {
		return nil, fmt.Errorf("pool: negative worker count %d", cfg.Workers)
	}
	if cfg.Name == "" {
		cfg.Name = "local"
	}
	switch {
	case cfg.MaxResult == 0:
		cfg.MaxResult = DefaultMaxResult
	case cfg.MaxResult < 0 || cfg.MaxResult > MaxFrameBody:
		return nil, fmt.Errorf("pool: MaxResult %d outside 1..%d, what the pipe protocol carries", cfg.MaxResult, MaxFrameBody)
	}
	p := &Pool{cfg: cfg, rep: rep, closing: make(chan struct{}), depth: 1, spares: spares}
	p.SetWorkers(cfg.Workers)
	return p, nil
}

// Name implements sched.Node.
func (p *Pool) Name() string { return p.cfg.Name }

// Capacity is how many jobs the pool takes at once at its target size.
func (p *Pool) Capacity() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.target * p.depth
}

// publishCapacity tells the reporter the pool's capacity after a change.
// capMu orders the reports, so the last one always holds the latest value.
func (p *Pool) publishCapacity() {
	p.capMu.Lock()
	defer p.capMu.Unlock()
	p.rep.SetCapacity(p, p.Capacity())
}

// Workers returns the target number of workers.
func (p *Pool) Workers() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.target
}

// PIDs returns the process ids of the running workers.
func (p *Pool) PIDs() []int {
	var pids []int
	for _, w := range p.WorkerStates() {
		pids = append(pids, w.PID)
	}
	return pids
}

// WorkerState describes one worker process.
type WorkerState struct {
	PID  int
	Busy bool // running a job
}

// WorkerStates describes the worker processes running now.
func (p *Pool) WorkerStates() []WorkerState {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []WorkerState
	for _, w := range p.workers {
		if w.proc != nil {
			out = append(out, WorkerState{PID: w.proc.Pid, Busy: len(w.inflight) > 0})
		}
	}
	return out
}

// Waiting returns the IDs of the jobs the pool holds that no worker has
// started: those in the backlog and those queued in a worker's pipe behind
// the job it runs.
func (p *Pool) Waiting() []uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ids []uint64
	for _, w := range p.workers {
		for _, j := range w.inflight[min(1, len(w.inflight)):] {
			ids = append(ids, j.ID)
		}
	}
	for _, j := range p.backlog {
		ids = append(ids, j.ID)
	}
	slices.Sort(ids)
	return ids
}

// Dispatch implements sched.Node: the job goes to the least busy worker
// with room, a ready one before one still starting, or waits in the
// backlog for the next worker that starts or frees up.
func (p *Pool) Dispatch(j *sched.Job) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	var best *worker
	now := time.Now()
	for _, w := range p.workers {
		if p.roomLocked(w, now) && (best == nil || better(w, best)) {
			best = w
		}
	}
	if best != nil {
		p.assignLocked(best, j)
		return
	}
	p.backlog = append(p.backlog, j)
}

// better reports whether a is the better of two workers with room for a
// job: a ready one, since a starting one's interpreter may take ~10 ms
// more (a spare next to workers the pool just started, say), then the
// one holding fewer jobs. Guarded by Pool.mu.
func better(a, b *worker) bool {
	if a.ready != b.ready {
		return a.ready
	}
	return len(a.inflight) < len(b.inflight)
}

// roomLocked reports whether w may be handed one more job now. An idle
// worker always may. A busy one may queue more only while jobs are short:
// the pool's depth allows it, this worker's own jobs have been short, and
// the job it is running has not been running long.
func (p *Pool) roomLocked(w *worker, now time.Time) bool {
	switch n := len(w.inflight); {
	case w.retiring:
		return false
	case n == 0:
		return true
	default:
		return n < p.depth && w.runtime.short() && now.Sub(w.headSince) < pipelineBelow
	}
}

// timeJobLocked adds a job's run time to w's and the pool's running
// averages and reports whether that changed the pool's depth.
func (p *Pool) timeJobLocked(w *worker, elapsed time.Duration) bool {
	w.runtime.add(elapsed)
	p.runtime.add(elapsed)
	depth := 1
	if !p.cfg.Restart && p.runtime.short() {
		depth = MaxJobsPerWorker
	}
	if depth == p.depth {
		return false
	}
	p.depth = depth
	for _, w := range p.workers {
		p.takeBacklogLocked(w)
	}
	return true
}

// Cancel implements sched.Node: it withdraws j if it is still waiting in
// the backlog, and the reporter never hears of it. A job a worker has been
// handed, running or waiting in its pipe behind the one that runs, runs to
// the end and is reported (NotCancelled): the pipe cannot take it back.
// It takes only p.mu, which is never held while the pool calls its
// reporter, as the scheduler, which calls Cancel with its lock held,
// requires.
func (p *Pool) Cancel(j *sched.Job) sched.CancelResult {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := slices.Index(p.backlog, j)
	if i < 0 {
		return sched.NotCancelled
	}
	p.backlog = slices.Delete(p.backlog, i, i+1)
	return sched.Withdrawn
}

// SetWorkers grows or shrinks the pool and reports its new capacity.
// Shrinking reports first, so that the scheduler stops handing out the
// slots, then retires idle workers first; busy ones exit when their jobs
// are done.
func (p *Pool) SetWorkers(n int) {
	p.mu.Lock()
	if p.closed || n < 0 {
		p.mu.Unlock()
		return
	}
	shrink := n < p.target
	p.target = n
	p.mu.Unlock()
	if shrink {
		p.publishCapacity()
	}
	p.resize(n)
	if !shrink {
		p.publishCapacity()
	}
}

// resize starts or retires workers to reach n.
func (p *Pool) resize(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || n != p.target {
		return // closed, or a later SetWorkers owns the size
	}
	active := p.activeLocked()
	for ; active < n; active++ {
		p.spawnLocked()
	}
	// Idle workers first, then the busiest last.
	for active > n {
		victim := -1
		for i, w := range p.workers {
			if w.retiring {
				continue
			}
			if victim < 0 || len(w.inflight) < len(p.workers[victim].inflight) {
				victim = i
			}
		}
		p.retireLocked(p.workers[victim])
		active--
	}
}

// Close kills every worker and waits briefly for them to be reaped. Jobs
// still running are dropped: the scheduler has cancelled them.
func (p *Pool) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.closing)
	p.backlog = nil
	unused := p.spares
	p.spares = nil
	for _, w := range p.workers {
		p.retireLocked(w)
		if w.proc != nil {
			_ = w.proc.Kill()
		}
	}
	p.mu.Unlock()
	for _, s := range unused {
		s.discard()
	}

	done := make(chan struct{})
	go func() { p.running.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(closeGrace):
	}
}

func (p *Pool) activeLocked() int {
	n := 0
	for _, w := range p.workers {
		if !w.retiring {
			n++
		}
	}
	return n
}

func (p *Pool) assignLocked(w *worker, j *sched.Job) {
	w.inflight = append(w.inflight, j)
	if len(w.inflight) == 1 {
		w.headSince = time.Now()
		p.startClockLocked(w)
		// An idle worker waits in read for this very job: writing it here
		// saves waking the writer goroutine, a thread hand-off on the
		// latency path. Jobs for busy workers still go through the writer,
		// which batches them into one write.
		if w.writeNow(j) {
			return
		}
	}
	w.unwritten.Add(1)
	w.in <- j // never blocks: in has room for JobsPerWorker jobs
}

func (p *Pool) retireLocked(w *worker) {
	if !w.retiring {
		w.retiring = true
		close(w.in)
	}
}

// takeBacklogLocked gives w queued jobs while it has room.
func (p *Pool) takeBacklogLocked(w *worker) {
	now := time.Now()
	for len(p.backlog) > 0 && p.roomLocked(w, now) {
		j := p.backlog[0]
		p.backlog = p.backlog[1:]
		p.assignLocked(w, j)
	}
}
