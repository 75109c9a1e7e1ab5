// Package jobserver is the client-side engine behind one pp.Server: a
// scheduler, the nodes it dispatches to (the local worker pool and remote
// ppservers, named or discovered), the registry of shipped functions, and
// the queue of node events the client reports to its user. The Python
// binding holds one per Server.
package jobserver

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ppgo/ppgo/core/metrics"
	"github.com/ppgo/ppgo/core/pool"
	"github.com/ppgo/ppgo/core/remote"
	"github.com/ppgo/ppgo/core/sched"
	"github.com/ppgo/ppgo/core/shm"
	"github.com/ppgo/ppgo/core/wire"
)

// ErrJobTooLarge is returned by Submit for a job too big to frame.
var ErrJobTooLarge = errors.New("job too large")

// Config configures a Server.
type Config struct {
	Pool        pool.Config
	MaxAttempts int // 0: sched.DefaultMaxAttempts
	// Secret authenticates this client to remote nodes.
	Secret string
	// Silence is how long a node may stay silent before it is presumed
	// dead, within the bounds of wire.ClampSilence; 0 means
	// wire.DefaultSilence.
	Silence time.Duration
	// Resolver looks up the host names of named nodes (nil: Go's), every
	// ResolveEvery (0: DefaultResolveEvery).
	Resolver     Resolver
	ResolveEvery time.Duration
}

// Server runs jobs on its local pool and on remote nodes.
type Server struct {
	cfg    Config
	sched  *sched.Scheduler
	local  *pool.Pool
	events *eventQueue

	funcsMu sync.RWMutex
	funcs   map[uint64]*sched.Func

	jobLimit atomic.Uint64 // largest job every node can take

	remotesMu sync.Mutex
	closed    bool
	remotes   map[string]*remote.Node // by name: "host:port", "name:port (address)"
	names     map[string]*nameNodes   // named nodes whose host is a name, by "name:port"
	// probes stop the goroutines that look for nodes: autodiscovery's
	// and those resolving names.
	probes []context.CancelFunc
	// discoveredNodes counts the remotes added by autodiscovery, which
	// stops adding at MaxDiscoveredNodes and says so once (capWarned).
	discoveredNodes int
	capWarned       bool
	warned          bool // about a weak secret, once remotes were expected

	// metrics is the metrics and status listener, nil unless ServeMetrics
	// started one; Close stops it. Guarded by metricsMu, which is never
	// taken with remotesMu held (the listener's collector takes that).
	metricsMu sync.Mutex
	metrics   *metrics.Listener

	closeOnce sync.Once
}

// New starts a server; its workers start in the background.
func New(cfg Config) (*Server, error) {
	cfg.Silence = wire.ClampSilence(cfg.Silence)
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	if cfg.ResolveEvery <= 0 {
		cfg.ResolveEvery = DefaultResolveEvery
	}
	s := &Server{
		cfg:     cfg,
		sched:   sched.New(sched.Config{MaxAttempts: cfg.MaxAttempts}),
		events:  newEventQueue(),
		funcs:   make(map[uint64]*sched.Func),
		remotes: make(map[string]*remote.Node),
		names:   make(map[string]*nameNodes),
	}
	s.jobLimit.Store(localJobLimit)
	local, err := pool.New(cfg.Pool, s.sched)
	if err != nil {
		return nil, fmt.Errorf("jobserver: %w", err)
	}
	s.local = local
	s.sched.AddNode(local, local.Capacity())
	return s, nil
}

// Register makes source known as function key; submitting a key needs it
// registered first. Keys name content: workers cache a key's source, so a
// key must never be reused for different source.
func (s *Server) Register(key uint64, source []byte) {
	s.funcsMu.Lock()
	s.funcs[key] = &sched.Func{Key: key, Source: source}
	s.funcsMu.Unlock()
}

// Submit queues a job running registered function key on args, which may
// run for at most timeout once a worker starts it (0: no limit).
func (s *Server) Submit(key uint64, args []byte, group string, notify bool, timeout time.Duration) (uint64, error) {
	return s.SubmitSegment(key, args, nil, group, notify, timeout)
}

// SubmitSegment is Submit for arguments whose large buffers are in seg
// (nil: none). The job owns seg from here on, even when it is refused:
// seg is closed when the job ends.
func (s *Server) SubmitSegment(key uint64, args []byte, seg *shm.Segment, group string,
	notify bool, timeout time.Duration) (uint64, error) {
	if err := s.checkJob(key, args, seg, timeout); err != nil {
		_ = seg.Close()
		return 0, err
	}
	s.funcsMu.RLock()
	f := s.funcs[key]
	s.funcsMu.RUnlock()
	return s.sched.Submit(&sched.Job{Group: group, Func: f, Args: args, Segment: seg,
		Notify: notify, Timeout: timeout})
}

// checkJob vets a job before it is queued: its function is registered and
// it fits every node.
func (s *Server) checkJob(key uint64, args []byte, seg *shm.Segment, timeout time.Duration) error {
	if timeout < 0 {
		return fmt.Errorf("jobserver: negative timeout %v", timeout)
	}
	s.funcsMu.RLock()
	f := s.funcs[key]
	s.funcsMu.RUnlock()
	if f == nil {
		return fmt.Errorf("jobserver: function key %d is not registered", key)
	}
	size := uint64(len(args)) + uint64(len(f.Source))
	if seg != nil {
		size += uint64(seg.Size())
	}
	if limit := s.jobLimit.Load(); size > limit {
		return fmt.Errorf("%w: %d bytes of arguments and source, the limit is %d",
			ErrJobTooLarge, size, limit)
	}
	return nil
}

// TimeoutFromSeconds reads a timeout given in seconds, as Python gives it:
// 0 means no limit, and so do +Inf and anything longer than a Duration
// holds (about 292 years); a positive one shorter than a nanosecond is a
// nanosecond, not "no limit". A negative timeout, or NaN, is an error.
func TimeoutFromSeconds(seconds float64) (time.Duration, error) {
	if math.IsNaN(seconds) || seconds < 0 {
		return 0, fmt.Errorf("timeout must be 0 (none) or a positive number of seconds, not %v", seconds)
	}
	ns := math.Ceil(seconds * float64(time.Second))
	if ns >= math.MaxInt64 { // float64(MaxInt64) is 2^63: one past the largest Duration
		return 0, nil
	}
	return time.Duration(ns), nil
}

// Cancel cancels job id unless it has started, and reports whether it did
// (sched.Scheduler.Cancel): a job still queued, or in the local pool's
// backlog, never runs; one sent to a ppserver is cancelled here at once,
// and dropped there unless a worker has started it. A cancelled job
// finishes with sched.StatusCancelled.
func (s *Server) Cancel(id uint64) bool { return s.sched.Cancel(id) }

// Watch puts job id on the notification queue once it finishes
// (sched.Scheduler.Watch); false if it has finished already.
func (s *Server) Watch(id uint64) bool { return s.sched.Watch(id) }

// Signal, SetSignal and TakeSignalled tell a client of finished jobs
// without a waiting thread (sched.Scheduler.Signal).
func (s *Server) Signal(id uint64) bool { return s.sched.Signal(id) }

// SetSignal: see sched.Scheduler.SetSignal.
func (s *Server) SetSignal(onSignal func()) { s.sched.SetSignal(onSignal) }

// TakeSignalled: see sched.Scheduler.TakeSignalled.
func (s *Server) TakeSignalled(max int) []uint64 { return s.sched.TakeSignalled(max) }

// SetWorkers changes the number of local workers at run time.
func (s *Server) SetWorkers(n int) error {
	if n < 0 {
		return fmt.Errorf("jobserver: negative worker count %d", n)
	}
	s.local.SetWorkers(n) // the pool reports its new capacity to the scheduler
	return nil
}

// Workers is the target number of local workers.
func (s *Server) Workers() int { return s.local.Workers() }

// WorkerPIDs lists the local worker processes.
func (s *Server) WorkerPIDs() []int { return s.local.PIDs() }

// WorkerStates describes the local worker processes.
func (s *Server) WorkerStates() []pool.WorkerState { return s.local.WorkerStates() }

// Queued returns the IDs of the jobs that no worker or node has taken yet:
// those waiting in the scheduler and those the local pool holds behind a
// running job. A job handed to a remote node counts as taken.
func (s *Server) Queued() []uint64 {
	ids := append(s.local.Waiting(), s.sched.Queued()...)
	slices.Sort(ids)
	return ids
}

// Wait reports whether job id finished within timeout (<0: no limit).
func (s *Server) Wait(id uint64, timeout time.Duration) bool { return s.sched.Wait(id, timeout) }

// Result returns job id's result once there is one.
func (s *Server) Result(id uint64) (sched.Result, bool) { return s.sched.Result(id) }

// Release finishes a Notify job after its callback ran.
func (s *Server) Release(id uint64) { s.sched.Release(id) }

// Forget drops job id's record and result.
func (s *Server) Forget(id uint64) { s.sched.Forget(id) }

// WaitGroup waits for a group, or every job when all is set.
func (s *Server) WaitGroup(group string, all bool, timeout time.Duration) bool {
	return s.sched.WaitGroup(group, all, timeout)
}

// NextNotified returns up to max completed Notify jobs.
func (s *Server) NextNotified(max int, timeout time.Duration) ([]uint64, bool) {
	return s.sched.NextNotified(max, timeout)
}

// Pending counts submitted jobs not yet finished.
func (s *Server) Pending() int { return s.sched.Pending() }

// Close cancels pending jobs, disconnects from remote nodes and stops the
// workers. The results of jobs that finished before stay readable, and
// Wait, Result, Forget, Nodes and Workers keep answering.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.sched.Close()
		s.remotesMu.Lock()
		s.closed = true
		remotes := slices.Collect(maps.Values(s.remotes))
		probes := s.probes
		s.remotesMu.Unlock()
		s.metricsMu.Lock()
		if s.metrics != nil {
			s.metrics.Close()
		}
		s.metricsMu.Unlock()
		for _, stop := range probes {
			stop()
		}
		for _, r := range remotes {
			r.Close()
		}
		s.local.Close()
		s.events.close()
	})
}
