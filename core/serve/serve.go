// Package serve is the node side of a ppserver: it accepts client
// connections, authenticates them (core/auth), and runs the jobs they send
// (core/wire) on the node's own worker pool (core/pool), streaming results
// back as they finish. One pool serves every client; each connection has
// its own function cache and credit window.
//
// Lock order: Server.mu before session.mu. Neither is held while calling
// into the pool, which may report a job's outcome from inside Dispatch.
// The gate's and the tally's locks are taken with no other held.
//
// Limits (const.go, Config): connections that have not authenticated are
// capped in number, in all and per source address, and an address that
// keeps failing the handshake has its connections closed unheard (gate.go,
// refuse.go); a client that does not read its results is dropped as a
// slow consumer (session.go); repeated events are summed up in the log
// (tally.go).
package serve

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ppgo/ppgo/core/pool"
	"github.com/ppgo/ppgo/core/sched"
	"github.com/ppgo/ppgo/core/shm"
	"github.com/ppgo/ppgo/core/wire"
)

// ErrClosed is returned by Serve once the server has been shut down.
var ErrClosed = errors.New("serve: server closed")

// Stats is a snapshot of a node's counters.
type Stats struct {
	Workers       int
	Clients       int             // connected, authenticated clients
	Running       int             // jobs handed to the pool, not yet finished
	Jobs          uint64          // jobs completed since start
	Busy          time.Duration   // summed run time of completed jobs
	Times         sched.Durations // run times of completed jobs
	Lost          uint64          // jobs reported lost: their worker died (the client runs them again)
	TimedOut      uint64          // jobs killed for running past their timeout
	Cancelled     uint64          // jobs dropped unstarted because their client cancelled them
	Started       time.Time
	IdleSince     time.Time // when the last client left (or Started); zero while any is connected
	AuthFailures  uint64    // handshakes that failed
	Refused       uint64    // connections closed unheard: over a handshake limit
	SlowConsumers uint64    // clients dropped for not reading their results
	UnsentBytes   int64     // results' bytes not yet written to their clients
	// BytesIn and BytesOut count the traffic of every client connection,
	// ended or not, handshakes included.
	BytesIn, BytesOut uint64
}

// ClientStats is a snapshot of one connected client's counters.
type ClientStats struct {
	Addr      string    // the client's "host:port"
	Since     time.Time // when it connected
	Queued    int       // its jobs waiting for a worker
	Running   int       // its jobs handed to the pool, not yet finished (Queued among them)
	Jobs      uint64    // its jobs completed
	Lost      uint64
	TimedOut  uint64
	Cancelled uint64
	BytesIn   uint64
	BytesOut  uint64
}

// Server is a node: a worker pool and the clients it serves.
type Server struct {
	cfg     Config
	log     *slog.Logger
	pool    *pool.Pool
	gate    *gate
	tally   *tally
	stop    chan struct{} // closed once the server stops accepting
	unsent  atomic.Int64  // Stats.UnsentBytes
	refused atomic.Uint64 // Stats.Refused
	slow    atomic.Uint64 // Stats.SlowConsumers

	mu        sync.Mutex // guards the fields below
	closed    bool
	draining  bool
	listeners map[net.Listener]struct{}
	sessions  map[*session]struct{}
	lastJobID uint64
	jobs      map[uint64]*remoteJob
	funcs     map[[sha256.Size]byte]*sched.Func
	lastKey   uint64
	credits   int // a client's window: pool capacity × CreditsPerSlot
	stats     Stats
	drained   chan struct{} // closed when draining, no job is running and every session has ended
	wg        sync.WaitGroup
}

// remoteJob ties a pool job to the client that sent it.
type remoteJob struct {
	job      *sched.Job
	sess     *session
	clientID uint64
}

// New checks cfg and starts the node's workers.
func New(cfg Config) (*Server, error) {
	fds := fdLimit()
	cfg, err := cfg.withDefaults(fds)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	s := &Server{
		cfg:       cfg,
		log:       cfg.Logger,
		gate:      newGate(cfg),
		stop:      make(chan struct{}),
		listeners: make(map[net.Listener]struct{}),
		sessions:  make(map[*session]struct{}),
		jobs:      make(map[uint64]*remoteJob),
		funcs:     make(map[[sha256.Size]byte]*sched.Func),
		stats:     Stats{Started: now, IdleSince: now},
		drained:   make(chan struct{}),
	}
	s.tally = newTally(cfg.SummaryInterval, s.summarize)
	s.log.Debug("limits", "fd_limit", fds, "max_handshakes", cfg.MaxHandshakes,
		"max_handshakes_per_address", cfg.MaxHandshakesPerAddr,
		"failed_handshake_burst", cfg.FailedHandshakeBurst, "failed_handshake_rate", cfg.FailedHandshakeRate,
		"write_timeout", cfg.WriteTimeout, "max_queued", mib(cfg.MaxQueuedBytes))
	p, err := pool.New(cfg.Pool, s)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	s.pool = p
	return s, nil
}

// Config is the node's configuration, with the defaults in effect.
func (s *Server) Config() Config { return s.cfg }

// Serve accepts clients on ln until Shutdown or Close, then returns
// ErrClosed. It closes ln on return.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed || s.draining {
		s.mu.Unlock()
		ln.Close()
		return ErrClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()

	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.stopping() {
				return ErrClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("serve: accept: %w", err) // closed under us: nothing more will come
			}
			// Out of file descriptors, a connection aborted before we took
			// it, or anything else: wait, never spin, never give up.
			backoff = min(max(2*backoff, acceptBackoffMin), acceptBackoffMax)
			if s.tally.add(tallyKey{kind: acceptFailed}, 0, err.Error(), time.Now()) {
				s.log.Warn("accept failed, retrying", "err", err, "in", backoff)
			}
			select {
			case <-time.After(backoff):
			case <-s.stop:
			}
			continue
		}
		backoff = 0
		addr := sourceAddr(nc)
		if v := s.gate.enter(addr, time.Now()); v != admitted {
			s.refuse(nc, addr, v)
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(nc, addr)
		}()
	}
}

func (s *Server) stopping() bool { return s.State() != Serving }

// State is where a server is in its life, as a health check reports it.
type State int

const (
	// Serving: it accepts clients and their jobs.
	Serving State = iota
	// Draining: Shutdown has begun; it accepts no client and no new job,
	// and waits for the running ones to finish and send their results.
	Draining
	// Closed: it has stopped; its connections and workers are gone or
	// going.
	Closed
)

func (st State) String() string {
	switch st {
	case Serving:
		return "serving"
	case Draining:
		return "draining"
	case Closed:
		return "closed"
	}
	return fmt.Sprintf("State(%d)", int(st))
}

// State reports whether the server is serving, draining or closed. It
// takes only the server's own lock, briefly, so a health check may call it
// as often as it likes.
func (s *Server) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed: // Shutdown ends in Close: closed wins over draining
		return Closed
	case s.draining:
		return Draining
	}
	return Serving
}

// stopAcceptingLocked closes the listeners and wakes an accept loop that
// is backing off.
func (s *Server) stopAcceptingLocked() {
	for ln := range s.listeners {
		ln.Close()
	}
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
}

// Stats returns a snapshot of the node's counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Workers = s.pool.Workers()
	st.Clients = len(s.sessions)
	st.Running = len(s.jobs)
	st.UnsentBytes = s.unsent.Load()
	st.Refused = s.refused.Load()
	st.SlowConsumers = s.slow.Load()
	for sess := range s.sessions {
		in, out := sess.conn.Traffic()
		st.BytesIn += in
		st.BytesOut += out
	}
	return st
}

// Clients returns a snapshot of each connected client's counters, in no
// particular order.
func (s *Server) Clients() []ClientStats {
	waiting := s.pool.Waiting() // taken first: the pool's lock is never taken under s.mu
	s.mu.Lock()
	defer s.mu.Unlock()
	queued := make(map[*session]int, len(s.sessions))
	for _, id := range waiting {
		if rj := s.jobs[id]; rj != nil {
			queued[rj.sess]++
		}
	}
	out := make([]ClientStats, 0, len(s.sessions))
	for sess := range s.sessions {
		c := sess.stats
		c.Running = len(sess.jobs)
		c.Queued = queued[sess]
		c.BytesIn, c.BytesOut = sess.conn.Traffic()
		out = append(out, c)
	}
	return out
}

// Backlog is how many jobs wait for a worker, all clients' together.
func (s *Server) Backlog() int { return len(s.pool.Waiting()) }

// BusyWorkers is how many workers are running a job now.
func (s *Server) BusyWorkers() int {
	n := 0
	for _, w := range s.pool.WorkerStates() {
		if w.Busy {
			n++
		}
	}
	return n
}

// Shutdown stops accepting clients, tells connected ones to send no more
// jobs, and waits for running jobs to finish and their results to be sent
// until ctx is done. Then it closes every connection and the workers.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	if !s.draining {
		s.draining = true
		s.stopAcceptingLocked()
		for sess := range s.sessions {
			sess.goodbye("server shutting down")
		}
		s.checkDrainedLocked()
	}
	s.mu.Unlock()

	var err error
	select {
	case <-s.drained:
	case <-ctx.Done():
		err = fmt.Errorf("serve: shutdown: %d jobs still running: %w", s.Stats().Running, ctx.Err())
	}
	s.Close()
	return err
}

// Close drops every connection and kills the workers at once.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.stopAcceptingLocked()
	sessions := make([]*session, 0, len(s.sessions))
	for sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	s.mu.Unlock()

	for _, sess := range sessions {
		sess.close()
	}
	s.pool.Close()
	s.wg.Wait()
	s.tally.stop()
}

// checkDrainedLocked closes drained once the last session has ended: a
// draining session closes itself after it has sent its last result. Jobs
// of clients that left are not waited for: nobody wants their results.
func (s *Server) checkDrainedLocked() {
	if s.draining && len(s.sessions) == 0 {
		select {
		case <-s.drained:
		default:
			close(s.drained)
		}
	}
}

// handle authenticates one connection the gate admitted and serves it
// until it ends.
func (s *Server) handle(nc net.Conn, addr netip.Addr) {
	sess, err := s.accept(nc, addr)
	s.gate.leave(addr, err != nil && !errors.Is(err, ErrClosed), time.Now())
	if err != nil {
		nc.Close()
		return
	}
	sess.run()
	s.abandon(sess)

	s.mu.Lock()
	delete(s.sessions, sess)
	s.countTrafficLocked(sess.conn)
	if len(s.sessions) == 0 {
		s.stats.IdleSince = time.Now()
	}
	s.checkDrainedLocked()
	s.mu.Unlock()
}

// countTrafficLocked adds the traffic of a connection that ended to the
// node's totals.
func (s *Server) countTrafficLocked(conn *wire.Conn) {
	in, out := conn.Traffic()
	s.stats.BytesIn += in
	s.stats.BytesOut += out
}

// abandon takes the jobs of a client that left out of the pool's backlog,
// so they do not hold up other clients' jobs; jobs already on a worker run
// to the end and their results are dropped.
func (s *Server) abandon(sess *session) {
	s.mu.Lock()
	var queued []*sched.Job
	for _, rj := range s.jobs {
		if rj.sess == sess {
			queued = append(queued, rj.job)
		}
	}
	s.mu.Unlock()
	var dropped int
	for _, j := range queued {
		if s.pool.Cancel(j) == sched.Withdrawn {
			dropped++
			_ = j.Segment.Close()
			s.mu.Lock()
			delete(sess.jobs, s.jobs[j.ID].clientID)
			delete(s.jobs, j.ID)
			s.mu.Unlock()
		}
	}
	if dropped > 0 {
		sess.log.Info("dropped the queued jobs of a client that left", "jobs", dropped)
	}
}

// register gives a client's function source a node-wide key. Equal source
// from any client shares one key, so workers exec it once.
func (s *Server) register(source []byte) *sched.Func {
	sum := sha256.Sum256(source)
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.funcs[sum]; f != nil {
		return f
	}
	s.lastKey++
	f := &sched.Func{Key: s.lastKey, Source: source}
	s.funcs[sum] = f
	return f
}

// run hands a client's job to the pool, or refuses it while draining. A
// job whose id the client has in flight already breaks the protocol: its
// Result and a Cancel could not tell the two apart. The job's large
// buffers, segment, go to the worker in a shared-memory segment of the
// node's own, as a local client's do.
func (s *Server) run(sess *session, clientID uint64, f *sched.Func, args, segment []byte, timeout time.Duration) error {
	var seg *shm.Segment
	if len(segment) > 0 {
		var err error
		if seg, err = shm.FromBytes(segment); err != nil { // not under s.mu: a copy of megabytes
			sess.report(wire.Result{ID: clientID, Status: wire.StatusLost, Reason: err.Error()})
			return nil
		}
	}
	s.mu.Lock()
	if sess.jobs[clientID] != nil {
		s.mu.Unlock()
		_ = seg.Close()
		return fmt.Errorf("%w: job %d sent while job %d is in flight", wire.ErrMalformed, clientID, clientID)
	}
	if s.draining || s.closed {
		s.mu.Unlock()
		_ = seg.Close()
		sess.report(wire.Result{ID: clientID, Status: wire.StatusLost, Reason: "server shutting down"})
		return nil
	}
	s.lastJobID++
	j := &sched.Job{ID: s.lastJobID, Func: f, Args: args, Segment: seg, Timeout: timeout}
	s.jobs[j.ID] = &remoteJob{job: j, sess: sess, clientID: clientID}
	sess.jobs[clientID] = j
	s.mu.Unlock()
	s.pool.Dispatch(j)
	return nil
}

// cancel drops the job a client cancelled if it is still in the pool's
// backlog, and reports it cancelled: it never runs. A job a worker has
// been handed runs on and is reported as usual, and a Cancel whose job was
// reported already (the two crossed on the wire) is ignored: either way the
// job gets its one Result, which returns its credit.
func (s *Server) cancel(sess *session, clientID uint64) {
	s.mu.Lock()
	j := sess.jobs[clientID]
	s.mu.Unlock()
	if j == nil || s.pool.Cancel(j) != sched.Withdrawn {
		return
	}
	_ = j.Segment.Close()
	s.mu.Lock()
	delete(s.jobs, j.ID)
	delete(sess.jobs, clientID)
	s.stats.Cancelled++
	sess.stats.Cancelled++
	s.mu.Unlock()
	sess.report(wire.Result{ID: clientID, Status: wire.StatusCancelled})
}

// The server stands in for a scheduler in front of its pool.
var _ sched.Reporter = (*Server)(nil)

// SetCapacity implements sched.Reporter: as the pool's capacity follows
// the length of jobs, so does every client's credit window, so a node
// running short jobs is sent enough to keep its pipelines full, and one
// running long jobs does not hoard work other nodes could start.
func (s *Server) SetCapacity(_ sched.Node, capacity int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.credits = max(capacity, 1) * s.cfg.CreditsPerSlot
	for sess := range s.sessions {
		sess.grant(s.credits)
	}
}

// Finish implements sched.Reporter: the outcome goes back to the client
// that sent the job, if it is still connected.
func (s *Server) Finish(_ sched.Node, j *sched.Job, o sched.Outcome) {
	_ = j.Segment.Close() // the pool is done with the job
	s.mu.Lock()
	rj := s.jobs[j.ID]
	delete(s.jobs, j.ID)
	if rj != nil {
		delete(rj.sess.jobs, rj.clientID)
		c := &rj.sess.stats
		switch {
		case o.Lost == nil:
			s.stats.Jobs++
			s.stats.Busy += o.Elapsed
			s.stats.Times.Observe(o.Elapsed)
			c.Jobs++
		case o.TimedOut:
			s.stats.TimedOut++
			c.TimedOut++
		default:
			s.stats.Lost++
			c.Lost++
		}
	}
	s.checkDrainedLocked()
	s.mu.Unlock()
	if rj == nil {
		_ = o.Segment.Close()
		return
	}
	segment, segErr := segmentBytes(o.Segment)
	r := wire.Result{ID: rj.clientID, Status: wire.StatusDone, Data: o.Data, ElapsedNS: int64(o.Elapsed),
		Segment: segment}
	switch {
	case segErr != nil:
		r = wire.Result{ID: rj.clientID, Status: wire.StatusLost, Reason: segErr.Error()}
	case o.Lost != nil && o.TimedOut:
		r = wire.Result{ID: rj.clientID, Status: wire.StatusTimedOut, Reason: o.Lost.Error()}
	case o.Lost != nil:
		r = wire.Result{ID: rj.clientID, Status: wire.StatusLost, Reason: o.Lost.Error()}
	}
	rj.sess.report(r)
}

// segmentBytes reads a result's segment, for the wire, and frees it.
func segmentBytes(seg *shm.Segment) ([]byte, error) {
	if seg == nil {
		return nil, nil
	}
	defer seg.Close()
	return seg.Bytes()
}
