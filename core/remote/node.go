// Package remote is the client side of a ppserver connection: a sched.Node
// that dials a node, authenticates (core/auth), keeps up to the node's
// credits of jobs in flight over one connection (core/wire), and reports
// their outcomes to the scheduler. When the connection breaks, the jobs it
// carried go back to the scheduler and a named node is redialled with
// backoff; a discovered one waits until it is heard again (Kick). A
// discovered node that could not be connected to or authenticated is
// dropped: it ignores being heard again until a backoff has passed, so
// that one announcing an address it cannot be reached at, or refusing
// this client, is not dialled at every announcement. A paused node (its
// address left a host name's, say) disconnects as if lost and dials no
// more until resumed.
//
// Lock order: Node.mu is never held while calling the Reporter, which
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
	// DefaultDropMin and DefaultDropMax bound how long a discovered node
	// that failed stays dropped, doubling with each failure in a row. The
	// least is longer than a named node's, as nobody asked for this node
	// by name; the most is long enough that a node refusing this client
	// costs it a handshake every five minutes, not one per announcement,
	// and short enough that a node fixed meanwhile joins before long.
	DefaultDropMin = time.Second
	DefaultDropMax = 5 * time.Minute
	// DefaultDialTimeout bounds the TCP connect.
	DefaultDialTimeout = 5 * time.Second
)

// errNotConnected reports a job handed over while the node was going away.
var errNotConnected = errors.New("node not connected")

// Config describes one remote node.
type Config struct {
	// Addr is the node's "host:port".
	Addr string
	// Name is what events, errors and the scheduler's statistics call the
	// node; "" means Addr.
	Name   string
	Secret string
	// Redial makes the node reconnect by itself, with backoff, after a
	// failure; without it the node waits for Kick, and after a failure
	// ignores kicks for a backoff from DropMin doubling to DropMax
	// (0: DefaultDropMin, DefaultDropMax).
	Redial           bool
	DropMin, DropMax time.Duration
	DialTimeout      time.Duration // 0: DefaultDialTimeout
	wire.Limits                    // zero fields: the defaults
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
	Addr string // the node's Name
	Err  error
	// Workers is the node's size, for Connected.
	Workers int
	// Requeued counts the jobs given back to the scheduler, for Disconnected.
	Requeued int
	// Dropped is how long a node without Redial ignores being heard
	// again, for Unreachable and Refused.
	Dropped time.Duration
}

func (e Event) String() string {
	switch e.Kind {
	case Connected:
		return fmt.Sprintf("connected to ppserver %s (%d workers)", e.Addr, e.Workers)
	case Disconnected:
		return fmt.Sprintf("lost ppserver %s: %v; %d of its jobs re-queued", e.Addr, e.Err, e.Requeued)
	case Unreachable:
		return fmt.Sprintf("cannot reach ppserver %s: %v%s", e.Addr, e.Err, e.dropped())
	default:
		return fmt.Sprintf("ppserver %s refused this client: %v; it gets no jobs%s", e.Addr, e.Err, e.dropped())
	}
}

func (e Event) dropped() string {
	if e.Dropped == 0 {
		return ""
	}
	return fmt.Sprintf(" (dropped: dialled again if heard after %v)", e.Dropped)
}

// State is a snapshot of a node's connection.
type State struct {
	Connected bool
	Workers   int
	LastErr   error
	// BytesIn and BytesOut count what every connection to the node so far
	// read and wrote, handshakes included.
	BytesIn, BytesOut uint64
	// Refusals counts the handshakes the node refused (wrong secret,
	// another protocol): this client's authentication failures there.
	Refusals uint64
}

// Node is one ppserver as the client's scheduler sees it: a sched.Node
// whose capacity is the credits the ppserver grants, 0 while disconnected.
type Node struct {
	cfg Config
	rep sched.Reporter
	log *slog.Logger

	ctx       context.Context
	cancel    context.CancelFunc
	kick      chan struct{}
	startOnce sync.Once
	done      chan struct{} // closed when loop returns (or at Close if never started)

	mu       sync.Mutex // guards the fields below
	conn     *link      // nil while disconnected
	workers  int
	lastErr  error
	reported EventKind // last failure kind reported, to say each once
	failed   bool
	// live is the connection being set up or served, nil between them:
	// State adds its traffic to that of those that ended.
	live *wire.Conn
	// bytesIn and bytesOut count the traffic of the connections that
	// ended; State adds the live one's.
	bytesIn, bytesOut uint64
	refusals          uint64
	// hangUp ends the current connection attempt or connection; nil
	// between them.
	hangUp context.CancelFunc
	// paused is why the node was paused, nil while it is not; resumed is
	// closed when it stops being paused. pauses counts the pauses and
	// pauseReason is the last one's reason, kept after Resume, so that a
	// connection can tell it was ended by a pause however soon the node
	// was resumed.
	paused      error
	resumed     chan struct{}
	pauses      int
	pauseReason error
}

var _ sched.Node = (*Node)(nil)

// New returns a node; Start makes it dial. The caller adds it to the
// scheduler in between, so the node's first SetCapacity finds it there.
func New(cfg Config, rep sched.Reporter) *Node {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.DropMin <= 0 {
		cfg.DropMin = DefaultDropMin
	}
	if cfg.DropMax <= 0 {
		cfg.DropMax = DefaultDropMax
	}
	cfg.DropMax = max(cfg.DropMax, cfg.DropMin)
	if cfg.Name == "" {
		cfg.Name = cfg.Addr
	}
	cfg.Limits = cfg.Limits.WithDefaults()
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{
		cfg:    cfg,
		rep:    rep,
		log:    log.With("node", cfg.Name),
		ctx:    ctx,
		cancel: cancel,
		kick:   make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
	return n
}

// Start begins dialling in the background.
func (n *Node) Start() {
	n.startOnce.Do(func() { go n.loop() })
}

// Name implements sched.Node.
func (n *Node) Name() string { return n.cfg.Name }

// State reports whether the node is connected and how big it is.
func (n *Node) State() State {
	n.mu.Lock()
	defer n.mu.Unlock()
	st := State{Connected: n.conn != nil, Workers: n.workers, LastErr: n.lastErr,
		BytesIn: n.bytesIn, BytesOut: n.bytesOut, Refusals: n.refusals}
	if n.live != nil {
		in, out := n.live.Traffic()
		st.BytesIn += in
		st.BytesOut += out
	}
	return st
}

// Kick asks a disconnected node to dial now (it was heard again), unless
// it is dropped after a failure.
func (n *Node) Kick() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// Pause disconnects the node and keeps it from dialling until Resume: its
// jobs go back to the scheduler as when the connection is lost, and the
// Disconnected event gives reason as the cause. Pausing a paused node
// does nothing.
func (n *Node) Pause(reason error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.paused != nil {
		return
	}
	n.paused, n.resumed = reason, make(chan struct{})
	n.pauses++
	n.pauseReason = reason
	if n.hangUp != nil {
		n.hangUp()
	}
	n.Kick() // out of a redial backoff, to wait for Resume instead
}

// Resume lets a paused node dial again, at once.
func (n *Node) Resume() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.paused != nil {
		n.paused = nil
		close(n.resumed)
	}
}

// Paused reports whether the node is paused.
func (n *Node) Paused() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.paused != nil
}

// Close disconnects and stops redialling; jobs in flight are reported
// lost. A node never started closes at once.
func (n *Node) Close() {
	n.cancel()
	n.startOnce.Do(func() { close(n.done) })
	<-n.done
}

// Dispatch implements sched.Node.
func (n *Node) Dispatch(j *sched.Job) {
	n.mu.Lock()
	l := n.conn
	if l != nil && n.paused == nil && l.enqueue(j) {
		n.mu.Unlock()
		return
	}
	n.mu.Unlock()
	n.rep.Finish(n, j, sched.Outcome{Lost: fmt.Errorf("%s: %w", n.cfg.Name, errNotConnected), Unsent: true})
}

// Cancel implements sched.Node. A job the connection has not yet put on
// the wire is withdrawn: the ppserver never hears of it, and it uses no
// credit. One on the wire is abandoned: the ppserver is told to drop it,
// which it does if no worker has started it, and the job's Result, which
// still comes (or its loss, if the connection breaks), is stale: it only
// returns the credit, and frees the scheduler's slot with it. The
// scheduler calls Cancel with its lock held: it takes only n.mu and the
// link's lock, neither of which is held while the node calls its reporter.
//
// A job the link does not hold is abandoned too: the scheduler asks only
// about a job it has not heard of, so its report is still to come (it is
// being handed back lost as the connection goes, or its Result has just
// been read, or Dispatch has yet to enqueue it); it will be stale.
func (n *Node) Cancel(j *sched.Job) sched.CancelResult {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.conn == nil {
		return sched.Abandoned
	}
	return n.conn.cancel(j)
}

// loop connects, serves the connection until it ends, and decides when to
// try again.
func (n *Node) loop() {
	defer close(n.done)
	backoff, drop := redialMin, n.cfg.DropMin
	for {
		if !n.waitResumed() {
			return
		}
		served, paused, err := n.connectAndServe()
		if n.ctx.Err() != nil {
			return
		}
		if paused {
			// Not a failure: whatever comes of the next dial is news.
			backoff, drop = redialMin, n.cfg.DropMin
			n.mu.Lock()
			n.failed = false
			n.mu.Unlock()
			continue
		}
		var dropped time.Time // kicks before this are ignored
		if served {
			// The Disconnected event said it; report the next failure anew.
			backoff, drop = redialMin, n.cfg.DropMin
			n.mu.Lock()
			n.lastErr, n.failed = err, false
			n.mu.Unlock()
		} else {
			var d time.Duration
			if !n.cfg.Redial {
				d, dropped = drop, time.Now().Add(drop)
				drop = min(2*drop, n.cfg.DropMax)
			}
			n.noteFailure(err, d)
		}
		if !n.wait(backoff, dropped) {
			return
		}
		backoff = min(2*backoff, redialMax)
	}
}

// waitResumed returns at once unless the node is paused, else when it is
// resumed; false when it is closed.
func (n *Node) waitResumed() bool {
	n.mu.Lock()
	paused, resumed := n.paused != nil, n.resumed
	n.mu.Unlock()
	if !paused {
		return true
	}
	select {
	case <-n.ctx.Done():
		return false
	case <-resumed:
		return true
	}
}

// wait pauses before the next dial: backoff for a named node, until Kick
// for a discovered one, ignoring kicks until dropped. It returns false
// when the node is closed.
func (n *Node) wait(backoff time.Duration, dropped time.Time) bool {
	var retry <-chan time.Time
	if n.cfg.Redial {
		t := time.NewTimer(backoff)
		defer t.Stop()
		retry = t.C
	}
	for {
		select {
		case <-n.ctx.Done():
			return false
		case <-n.kick:
			if time.Now().Before(dropped) && !n.Paused() {
				continue // heard again too soon
			}
		case <-retry:
		}
		return true
	}
}

// noteFailure records why the node is not connected and tells the user
// once per kind of failure, not at every redial.
func (n *Node) noteFailure(err error, dropped time.Duration) {
	kind := Unreachable
	if errors.Is(err, auth.ErrWrongSecret) || errors.Is(err, auth.ErrRefused) || errors.Is(err, auth.ErrProtocol) {
		kind = Refused
	}
	n.mu.Lock()
	if kind == Refused {
		n.refusals++
	}
	n.lastErr = err
	repeat := n.failed && n.reported == kind
	n.failed, n.reported = true, kind
	n.mu.Unlock()
	n.log.Debug("node not connected", "err", err)
	if !repeat {
		n.event(Event{Kind: kind, Addr: n.cfg.Name, Err: err, Dropped: dropped})
	}
}

// countTraffic adds a connection that ended to the totals.
func (n *Node) countTraffic(conn *wire.Conn) {
	in, out := conn.Traffic()
	n.mu.Lock()
	n.live = nil
	n.bytesIn += in
	n.bytesOut += out
	n.mu.Unlock()
}

func (n *Node) event(e Event) {
	if n.cfg.Events != nil {
		n.cfg.Events(e)
	}
}

// connectAndServe dials, authenticates and runs one connection. served is
// true when the handshake succeeded (the connection was usable); paused
// when a pause ended it.
func (n *Node) connectAndServe() (served, paused bool, err error) {
	ctx, hangUp := context.WithCancel(n.ctx)
	defer hangUp()
	n.mu.Lock()
	if n.paused != nil {
		n.mu.Unlock()
		return false, true, n.paused
	}
	n.hangUp = hangUp
	pauses := n.pauses
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		n.hangUp = nil
		if n.pauses != pauses {
			paused, err = true, n.pauseReason
		}
		n.mu.Unlock()
	}()

	d := net.Dialer{Timeout: n.cfg.DialTimeout}
	nc, err := d.DialContext(ctx, "tcp", n.cfg.Addr)
	if err != nil {
		return false, false, fmt.Errorf("dial: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	conn := wire.NewConn(nc)
	n.mu.Lock()
	n.live = conn
	n.mu.Unlock()
	defer n.countTraffic(conn)
	offer, err := auth.Client(conn, []byte(n.cfg.Secret), n.cfg.HandshakeTimeout)
	if err != nil {
		nc.Close()
		return false, false, err
	}
	conn.SetMaxFrame(n.cfg.MaxFrame)

	l := newLink(n, conn)
	n.mu.Lock()
	n.conn, n.workers, n.failed, n.lastErr = l, offer.Workers, false, nil
	n.mu.Unlock()
	n.log.Info("connected", "workers", offer.Workers, "credits", offer.Credits)
	n.event(Event{Kind: Connected, Addr: n.cfg.Name, Workers: offer.Workers})
	n.rep.SetCapacity(n, offer.Credits)

	err = l.run()

	// Stop the scheduler handing this node work, then take the link out of
	// service and hand its jobs back. In the other order a job dispatched
	// in between came straight back unsent to a scheduler that still saw
	// free slots here, and went round again until the capacity dropped.
	n.rep.SetCapacity(n, 0)
	n.mu.Lock()
	n.conn = nil
	lost := l.shutdown()
	if n.pauses != pauses {
		err = n.pauseReason // the closed connection is only how it showed
	}
	n.mu.Unlock()
	for _, j := range lost.sent {
		n.rep.Finish(n, j, sched.Outcome{Lost: fmt.Errorf("ppserver %s: %w", n.cfg.Name, err)})
	}
	for _, j := range lost.unsent {
		n.rep.Finish(n, j, sched.Outcome{Lost: fmt.Errorf("ppserver %s: %w", n.cfg.Name, err), Unsent: true})
	}
	if n.ctx.Err() == nil {
		n.event(Event{Kind: Disconnected, Addr: n.cfg.Name, Err: err, Requeued: len(lost.sent) + len(lost.unsent)})
	}
	return true, false, err // the deferred check sets paused
}
