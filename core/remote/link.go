package remote

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/ppgo/ppgo/core/sched"
	"github.com/ppgo/ppgo/core/shm"
	"github.com/ppgo/ppgo/core/wire"
)

// link is one authenticated connection to a node: a writer goroutine that
// sends queued jobs in batches, and the reader (run's caller) that turns
// results into outcomes.
type link struct {
	node *Node
	conn *wire.Conn

	mu       sync.Mutex
	closed   bool
	inflight map[uint64]flight // queued or sent, not yet reported
	queue    []*sched.Job      // not yet taken by the writer
	cancels  []uint64          // ids of jobs to tell the node to drop, not yet taken by the writer
	wake     chan struct{}     // capacity 1: the queue or cancels is not empty
	// holding is set while the reader handles messages that arrived
	// together: the jobs their results free wait for the writer until the
	// reader has them all (drained), to go in one write, not one each.
	holding bool

	known map[uint64]bool // function keys whose source this connection has; writer only
}

// flight is a job the link carries; sent once the writer has taken it,
// cancelled once the scheduler has abandoned it (its Result is stale).
type flight struct {
	job       *sched.Job
	sent      bool
	cancelled bool
}

// lostJobs are a closed link's unreported jobs.
type lostJobs struct {
	sent, unsent []*sched.Job
}

func newLink(n *Node, conn *wire.Conn) *link {
	return &link{
		node:     n,
		conn:     conn,
		inflight: make(map[uint64]flight),
		wake:     make(chan struct{}, 1),
		known:    make(map[uint64]bool),
	}
}

// enqueue queues j for the writer; false if the link is closed.
func (l *link) enqueue(j *sched.Job) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.inflight[j.ID] = flight{job: j}
	l.queue = append(l.queue, j)
	l.signalLocked()
	return true
}

// cancel withdraws j if the writer has not taken it yet: the node never
// hears of it. Once taken, j may be on the wire: it is abandoned, and the
// writer tells the node to drop it (Cancel), which the node does if no
// worker has started it. Either way the node sends j's one Result, which
// returns its credit and is stale. A job the link does not carry is
// abandoned as well (Node.Cancel says why), with nothing to tell the node.
func (l *link) cancel(j *sched.Job) sched.CancelResult {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.inflight[j.ID]
	switch {
	case !ok || f.job != j || f.cancelled:
		return sched.Abandoned
	case f.sent:
		f.cancelled = true
		l.inflight[j.ID] = f
		l.cancels = append(l.cancels, j.ID)
		l.signalLocked()
		return sched.Abandoned
	}
	delete(l.inflight, j.ID)
	if i := slices.Index(l.queue, j); i >= 0 {
		l.queue = slices.Delete(l.queue, i, i+1)
	}
	return sched.Withdrawn
}

// signalLocked wakes the writer, unless the reader is holding it back.
func (l *link) signalLocked() {
	if l.holding {
		return
	}
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// shutdown closes the link and returns the jobs it will never report.
func (l *link) shutdown() lostJobs {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	var lost lostJobs
	for _, f := range l.inflight {
		if f.sent {
			lost.sent = append(lost.sent, f.job)
		} else {
			lost.unsent = append(lost.unsent, f.job)
		}
	}
	l.queue, l.inflight, l.cancels = nil, nil, nil
	return lost
}

// run serves the connection until it breaks or the node is closed.
func (l *link) run() error {
	writerErr := make(chan error, 1)
	stopWriter := make(chan struct{})
	go func() { writerErr <- l.writeLoop(stopWriter) }()
	err := l.conn.ReadBursts("node", l.node.cfg.Silence, l.handle, l.drained)
	l.conn.Close()
	close(stopWriter)
	if werr := <-writerErr; werr != nil && errors.Is(err, net.ErrClosed) {
		err = werr // the writer failed first and closed the connection
	}
	return err
}

// handle acts on one message from the node, holding the writer back
// until the messages that came with it are handled too.
func (l *link) handle(m wire.Message) error {
	if !l.holding { // only the reader changes it
		l.mu.Lock()
		l.holding = true
		l.mu.Unlock()
	}
	switch m := m.(type) {
	case *wire.Result:
		return l.result(m)
	case *wire.Credits:
		if m.Credits < 0 {
			return fmt.Errorf("%w: negative credits %d", wire.ErrMalformed, m.Credits)
		}
		l.node.rep.SetCapacity(l.node, m.Credits)
	case *wire.Goodbye:
		l.node.log.Info("node is shutting down", "reason", m.Reason)
		l.node.rep.SetCapacity(l.node, 0)
	default:
		return fmt.Errorf("%w: unexpected %v from a node", wire.ErrMalformed, m.MessageType())
	}
	return nil
}

// drained lets the writer send what the reader's last messages freed.
func (l *link) drained() {
	if !l.holding {
		return
	}
	l.mu.Lock()
	l.holding = false
	if len(l.queue) > 0 || len(l.cancels) > 0 {
		l.signalLocked()
	}
	l.mu.Unlock()
}

// result reports a job's outcome to the scheduler. The Result of a job the
// scheduler abandoned is stale, whatever it says: reported all the same,
// it frees the job's slot, as the Result frees its credit on the node.
func (l *link) result(m *wire.Result) error {
	if !m.Status.Valid() {
		return fmt.Errorf("%w: result for job %d has status %d", wire.ErrMalformed, m.ID, m.Status)
	}
	l.mu.Lock()
	f := l.inflight[m.ID]
	ok := f.sent && (m.Status != wire.StatusCancelled || f.cancelled)
	if ok {
		delete(l.inflight, m.ID)
	}
	l.mu.Unlock()
	switch {
	case !f.sent: // unknown ids read as a zero flight, never sent
		return fmt.Errorf("%w: result for job %d, which this connection does not carry or has not sent", wire.ErrMalformed, m.ID)
	case !ok:
		return fmt.Errorf("%w: job %d reported cancelled, which this client did not cancel", wire.ErrMalformed, m.ID)
	}
	var o sched.Outcome
	switch m.Status {
	case wire.StatusDone:
		o = sched.Outcome{Data: m.Data, Elapsed: time.Duration(m.ElapsedNS)}
		if len(m.Segment) > 0 {
			seg, err := shm.FromBytes(m.Segment)
			if err != nil {
				o = sched.Outcome{Lost: fmt.Errorf("ppserver %s: result of job %d: %w", l.node.cfg.Name, m.ID, err)}
			} else {
				o.Segment = seg
			}
		}
	case wire.StatusLost:
		o = sched.Outcome{Lost: fmt.Errorf("ppserver %s: %s", l.node.cfg.Name, m.Reason)}
	case wire.StatusTimedOut:
		o = sched.Outcome{Lost: fmt.Errorf("ppserver %s: %s", l.node.cfg.Name, m.Reason), TimedOut: true}
	case wire.StatusCancelled:
		o = sched.Outcome{Lost: fmt.Errorf("ppserver %s: dropped, as this client cancelled it", l.node.cfg.Name)}
	}
	l.node.rep.Finish(l.node, f.job, o)
	return nil
}

// writeLoop sends queued jobs, each batch with one flush, and a heartbeat
// after a quiet spell. It closes the connection when writing fails.
func (l *link) writeLoop(stop <-chan struct{}) error {
	silence := l.node.cfg.Silence
	quiet := time.NewTimer(wire.Quiet(silence))
	defer quiet.Stop()
	var batch []*sched.Job
	for {
		select {
		case <-stop:
			return nil
		case <-quiet.C:
			if err := l.flush(nil, nil, silence); err != nil {
				l.conn.Close()
				return err
			}
		case <-l.wake:
			var cancels []uint64
			batch, cancels = l.take(batch[:0])
			if err := l.flush(batch, cancels, silence); err != nil {
				l.conn.Close()
				return err
			}
			clear(batch)
		}
		quiet.Reset(wire.Quiet(silence))
	}
}

// take moves the queued jobs into batch for the writer to send, and marks
// them sent: from here on they may reach the node, and Cancel can no
// longer withdraw them. It also hands over the ids to cancel on the node:
// each of a job taken by an earlier call, so its Cancel follows it on the
// wire.
func (l *link) take(batch []*sched.Job) ([]*sched.Job, []uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	batch, l.queue = append(batch, l.queue...), l.queue[:0]
	for _, j := range batch {
		l.inflight[j.ID] = flight{job: j, sent: true}
	}
	cancels := l.cancels
	l.cancels = nil
	return batch, cancels
}

// flush writes jobs and cancels (a heartbeat when there are none) and
// flushes them.
func (l *link) flush(jobs []*sched.Job, cancels []uint64, silence time.Duration) error {
	if err := l.conn.NetConn().SetWriteDeadline(time.Now().Add(silence)); err != nil {
		return err
	}
	if len(jobs) == 0 && len(cancels) == 0 {
		if err := l.conn.Write(&wire.Heartbeat{}); err != nil {
			return err
		}
	}
	for _, id := range cancels {
		if err := l.conn.Write(&wire.Cancel{ID: id}); err != nil {
			return fmt.Errorf("cancel job %d: %w", id, err)
		}
	}
	for _, j := range jobs {
		m := wire.Job{ID: j.ID, Key: j.Func.Key, Args: j.Args, TimeoutNS: int64(j.Timeout)}
		first := !l.known[j.Func.Key]
		if first {
			m.Source = j.Func.Source
		}
		err := writeJob(l.conn, &m, j.Segment)
		if errors.Is(err, wire.ErrFrameTooLarge) || errors.Is(err, errSegment) {
			l.tooLarge(j, err)
			continue
		}
		if err != nil {
			return fmt.Errorf("send job %d: %w", j.ID, err)
		}
		l.known[j.Func.Key] = true
	}
	return l.conn.Flush()
}

// errSegment marks a job whose segment could not be read to be sent (it
// was closed: the job ended meanwhile).
var errSegment = errors.New("segment unreadable")

// writeJob writes m with the bytes of seg, if any, read straight from its
// mapping.
func writeJob(conn *wire.Conn, m *wire.Job, seg *shm.Segment) error {
	if seg == nil {
		return conn.Write(m)
	}
	mem, err := seg.Map(false)
	if err != nil {
		return fmt.Errorf("%w: %w", errSegment, err)
	}
	m.Segment = mem
	err = conn.Write(m) // copies the bytes out: the mapping can go
	_ = shm.Unmap(mem)
	return err
}

// tooLarge gives back a job this connection cannot carry; it may still
// fit another node.
func (l *link) tooLarge(j *sched.Job, err error) {
	l.mu.Lock()
	_, ours := l.inflight[j.ID]
	delete(l.inflight, j.ID)
	l.mu.Unlock()
	if ours {
		l.node.rep.Finish(l.node, j, sched.Outcome{Lost: fmt.Errorf("ppserver %s: %w", l.node.cfg.Name, err)})
	}
}
