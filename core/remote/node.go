// Package remote is the client side of a ppserver connection: a sched.Node
// that dials a node, authenticates (core/auth), keeps up to the node's
// credits of jobs in flight over one connection (core/wire), and reports
// their outcomes to the scheduler. When the connection breaks, the jobs it
// carried go back to the scheduler and a named node is redialled with
// backoff; a discovered one waits until it is heard again (Kick).
//
// Lock order: Remote.mu is never held while calling the Reporter, which
// may call Dispatch from inside Finish or SetCapacity.
package remote

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/ppgo/ppgo/core/auth"
	"github.com/ppgo/ppgo/core/sched"
	"github.com/ppgo/ppgo/core/wire"
)

// Backoff bounds for redialling a named node that failed or went away.
const (
	redialMin = 100 * time.Millisecond
	redialMax = 5 * time.Second
	// DefaultDialTimeout bounds the TCP connect.
	DefaultDialTimeout = 5 * time.Second
)

// errNotConnected reports a job handed over while the node was going away.
var errNotConnected = errors.New("node not connected")

// Config describes one remote node.
type Config struct {
	// Addr is the node's "host:port".
	Addr   string
	Secret string
	// Redial makes the node reconnect by itself, with backoff, after a
	// failure; without it the node waits for Kick.
	Redial      bool
	DialTimeout time.Duration // 0: DefaultDialTimeout
	wire.Limits               // zero fields: the defaults
	// Events receives one line per change a user should hear about
	// (connected, refused, lost); it must not block. Nil drops them.
	Events func(Event)
	Logger *slog.Logger
}

// EventKind classifies an Event.
type EventKind int

// Event kinds.
const (
	Connected EventKind = iota
	Disconnected
	Unreachable
	Refused // wrong secret or protocol: retrying will not help until the node changes
)

// Event is a change in a node's connection.
type Event struct {
	Kind EventKind
	Addr string
	Err  error
	// Workers is the node's size, for Connected.
	Workers int
	// Requeued counts the jobs given back to the scheduler, for Disconnected.
	Requeued int
}

func (e Event) String() string {
	switch e.Kind {
	case Connected:
		return fmt.Sprintf("connected to ppserver %s (%d workers)", e.Addr, e.Workers)
	case Disconnected:
		return fmt.Sprintf("lost ppserver %s: %v; %d of its jobs re-queued", e.Addr, e.Err, e.Requeued)
	case Unreachable:
		return fmt.Sprintf("cannot reach ppserver %s: %v", e.Addr, e.Err)
	default:
		return fmt.Sprintf("ppserver %s refused this client: %v; it gets no jobs", e.Addr, e.Err)
	}
}

// State is a snapshot of a node's connection.
type State struct {
	Connected bool
	Workers   int
	LastErr   error
}

// Remote is a ppserver as a sched.Node.
type Remote struct {
	cfg Config
	rep sched.Reporter
	log *slog.Logger

	ctx       context.Context
	cancel    context.CancelFunc
	kick      chan struct{}
	startOnce sync.Once
	done      chan struct{} // closed when loop returns (or at Close if never started)

	mu       sync.Mutex
	conn     *link // nil while disconnected
	workers  int
	lastErr  error
	reported EventKind // last failure kind reported, to say each once
	failed   bool
}

// New returns a node; Start makes it dial. The caller adds it to the
// scheduler in between, so the node's first SetCapacity finds it there.
func New(cfg Config, rep sched.Reporter) *Remote {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	cfg.Limits = cfg.Limits.WithDefaults()
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Remote{
		cfg:    cfg,
		rep:    rep,
		log:    log.With("node", cfg.Addr),
		ctx:    ctx,
		cancel: cancel,
		kick:   make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
	return r
}

// Start begins dialling in the background.
func (r *Remote) Start() {
	r.startOnce.Do(func() { go r.loop() })
}

// Name implements sched.Node.
func (r *Remote) Name() string { return r.cfg.Addr }

// State reports whether the node is connected and how big it is.
func (r *Remote) State() State {
	r.mu.Lock()
	defer r.mu.Unlock()
	return State{Connected: r.conn != nil, Workers: r.workers, LastErr: r.lastErr}
}

// Kick asks a disconnected node to dial now (it was heard again).
func (r *Remote) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Close disconnects and stops redialling; jobs in flight are reported
// lost. A node never started closes at once.
func (r *Remote) Close() {
	r.cancel()
	r.startOnce.Do(func() { close(r.done) })
	<-r.done
}

// Dispatch implements sched.Node.
func (r *Remote) Dispatch(j *sched.Job) {
	r.mu.Lock()
	l := r.conn
	if l != nil && l.enqueue(j) {
		r.mu.Unlock()
		return
	}
	r.mu.Unlock()
	r.rep.Finish(r, j, sched.Outcome{Lost: fmt.Errorf("%s: %w", r.cfg.Addr, errNotConnected), Unsent: true})
}

// loop connects, serves the connection until it ends, and decides when to
// try again.
func (r *Remote) loop() {
	defer close(r.done)
	backoff := redialMin
	for {
		served, err := r.connectAndServe()
		if r.ctx.Err() != nil {
			return
		}
		if served {
			// The Disconnected event said it; report the next failure anew.
			backoff = redialMin
			r.mu.Lock()
			r.lastErr, r.failed = err, false
			r.mu.Unlock()
		} else {
			r.noteFailure(err)
		}
		if !r.wait(backoff) {
			return
		}
		backoff = min(2*backoff, redialMax)
	}
}

// wait pauses before the next dial: backoff for a named node, until Kick
// for a discovered one. It returns false when the node is closed.
func (r *Remote) wait(backoff time.Duration) bool {
	var retry <-chan time.Time
	if r.cfg.Redial {
		t := time.NewTimer(backoff)
		defer t.Stop()
		retry = t.C
	}
	select {
	case <-r.ctx.Done():
		return false
	case <-r.kick:
	case <-retry:
	}
	return true
}

// noteFailure records why the node is not connected and tells the user
// once per kind of failure, not at every redial.
func (r *Remote) noteFailure(err error) {
	kind := Unreachable
	if errors.Is(err, auth.ErrWrongSecret) || errors.Is(err, auth.ErrRefused) || errors.Is(err, auth.ErrProtocol) {
		kind = Refused
	}
	r.mu.Lock()
	r.lastErr = err
	repeat := r.failed && r.reported == kind
	r.failed, r.reported = true, kind
	r.mu.Unlock()
	r.log.Debug("node not connected", "err", err)
	if !repeat {
		r.event(Event{Kind: kind, Addr: r.cfg.Addr, Err: err})
	}
}

func (r *Remote) event(e Event) {
	if r.cfg.Events != nil {
		r.cfg.Events(e)
	}
}

// connectAndServe dials, authenticates and runs one connection. served is
// true when the handshake succeeded (the connection was usable).
func (r *Remote) connectAndServe() (served bool, err error) {
	d := net.Dialer{Timeout: r.cfg.DialTimeout}
	nc, err := d.DialContext(r.ctx, "tcp", r.cfg.Addr)
	if err != nil {
		return false, fmt.Errorf("dial: %w", err)
	}
	stop := context.AfterFunc(r.ctx, func() { nc.Close() })
	defer stop()
	conn := wire.NewConn(nc)
	offer, err := auth.Client(conn, []byte(r.cfg.Secret), r.cfg.HandshakeTimeout)
	if err != nil {
		nc.Close()
		return false, err
	}
	conn.SetMaxFrame(r.cfg.MaxFrame)

	l := newLink(r, conn)
	r.mu.Lock()
	r.conn, r.workers, r.failed, r.lastErr = l, offer.Workers, false, nil
	r.mu.Unlock()
	r.log.Info("connected", "workers", offer.Workers, "credits", offer.Credits)
	r.event(Event{Kind: Connected, Addr: r.cfg.Addr, Workers: offer.Workers})
	r.rep.SetCapacity(r, offer.Credits)

	err = l.run()

	// Stop the scheduler handing this node work, then take the link out of
	// service and hand its jobs back. In the other order a job dispatched
	// in between came straight back unsent to a scheduler that still saw
	// free slots here, and went round again until the capacity dropped.
	r.rep.SetCapacity(r, 0)
	r.mu.Lock()
	r.conn = nil
	lost := l.shutdown()
	r.mu.Unlock()
	for _, j := range lost.sent {
		r.rep.Finish(r, j, sched.Outcome{Lost: fmt.Errorf("ppserver %s: %w", r.cfg.Addr, err)})
	}
	for _, j := range lost.unsent {
		r.rep.Finish(r, j, sched.Outcome{Lost: fmt.Errorf("ppserver %s: %w", r.cfg.Addr, err), Unsent: true})
	}
	if r.ctx.Err() == nil {
		r.event(Event{Kind: Disconnected, Addr: r.cfg.Addr, Err: err, Requeued: len(lost.sent) + len(lost.unsent)})
	}
	return true, err
}
