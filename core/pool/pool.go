// Package pool runs jobs on local worker interpreters: it spawns and
// supervises worker processes, talks to each over a dedicated pair of pipes
// with the framing in frame.go, remembers which worker has which function's
// source, grows and shrinks at run time, and replaces workers that die.
//
// A worker reads jobs on file descriptor 3 and writes results on 4; its
// stdin is /dev/null and its stdout/stderr are the client's, so nothing a
// job or a C library prints can corrupt the protocol.
package pool

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ppgo/ppgo/core/sched"
)

// errPoolClosed ends a worker that was still to start when the pool closed.
var errPoolClosed = errors.New("pool closed")

// Reporter receives the outcome of every job the pool was dispatched;
// *sched.Scheduler is one.
type Reporter interface {
	Finish(n sched.Node, j *sched.Job, o sched.Outcome)
}

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
}

// Pool is a sched.Node backed by local worker processes.
type Pool struct {
	cfg Config
	rep Reporter

	closing chan struct{} // closed by Close: wakes respawn delays

	mu      sync.Mutex
	closed  bool
	target  int
	workers []*worker
	backlog []*sched.Job  // dispatched while no worker had room
	backoff time.Duration // delay before the next respawn after early deaths
	running sync.WaitGroup
}

// New starts a pool of cfg.Workers workers in the background and reports
// job outcomes to rep.
func New(cfg Config, rep Reporter) (*Pool, error) {
	if len(cfg.Argv) == 0 {
		return nil, errors.New("pool: no worker command")
	}
	if cfg.Workers < 0 {
		return nil, fmt.Errorf("pool: negative worker count %d", cfg.Workers)
	}
	if cfg.Name == "" {
		cfg.Name = "local"
	}
	p := &Pool{cfg: cfg, rep: rep, closing: make(chan struct{})}
	p.SetWorkers(cfg.Workers)
	return p, nil
}

// Name implements sched.Node.
func (p *Pool) Name() string { return p.cfg.Name }

// Capacity is how many jobs the pool takes at once at its target size.
func (p *Pool) Capacity() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.target * JobsPerWorker
}

// Workers returns the target number of workers.
func (p *Pool) Workers() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.target
}

// PIDs returns the process ids of the running workers.
func (p *Pool) PIDs() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var pids []int
	for _, w := range p.workers {
		if w.proc != nil {
			pids = append(pids, w.proc.Pid)
		}
	}
	return pids
}

// Dispatch implements sched.Node: the job goes to an idle worker, or waits
// in the backlog for the next worker that starts or frees up.
func (p *Pool) Dispatch(j *sched.Job) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	for _, w := range p.workers {
		if !w.retiring && len(w.inflight) < JobsPerWorker {
			p.assignLocked(w, j)
			return
		}
	}
	p.backlog = append(p.backlog, j)
}

// SetWorkers grows or shrinks the pool. Shrinking retires idle workers
// first; busy ones exit when their job is done.
func (p *Pool) SetWorkers(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || n < 0 {
		return
	}
	p.target = n
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
	for _, w := range p.workers {
		p.retireLocked(w)
		if w.proc != nil {
			_ = w.proc.Kill()
		}
	}
	p.mu.Unlock()

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
	for len(p.backlog) > 0 && !w.retiring && len(w.inflight) < JobsPerWorker {
		j := p.backlog[0]
		p.backlog = p.backlog[1:]
		p.assignLocked(w, j)
	}
}
