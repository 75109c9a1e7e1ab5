package serve

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/ppgo/ppgo/core/auth"
	"github.com/ppgo/ppgo/core/sched"
	"github.com/ppgo/ppgo/core/wire"
)

// session is one authenticated client connection. Its reader goroutine
// turns Job frames into pool jobs; its writer goroutine sends results,
// heartbeats and the goodbye.
//
// A client that does not read its results is a slow consumer: it is
// dropped when a write to it makes no progress for WriteTimeout, or when
// the results waiting behind the one being written stay over
// MaxQueuedBytes for WriteTimeout. Until then its credits bound how many
// results it can make the node hold: a result returns its credit only
// when the writer takes it to send it, not when the job finishes.
type session struct {
	srv   *Server
	conn  *wire.Conn
	addr  string
	log   *slog.Logger
	funcs map[uint64]*sched.Func // client key → node function; reader only
	// jobs maps the client's id of each job it sent to the job on the
	// pool, until the job is reported: what Cancel names. Guarded by
	// Server.mu, with Server.jobs.
	jobs map[uint64]*sched.Job
	// stats counts the client's jobs (Server.Clients fills in the rest).
	// Guarded by Server.mu.
	stats ClientStats

	mu      sync.Mutex
	window  int  // credits the client has been granted
	ceiling int  // the largest window ever granted: what is enforced
	granted bool // window changed since the client was told
	results []wire.Result
	queued  int64       // bytes of results waiting for the writer
	unsent  int64       // bytes of results not yet written: queued, and those being written
	over    time.Time   // since when queued has been over MaxQueuedBytes; zero while under
	overDue *time.Timer // checks the queue once it has been over for WriteTimeout
	bye     string      // non-empty: send Goodbye with this reason
	byeSent bool
	ended   bool
	slow    bool          // dropped as a slow consumer
	wake    chan struct{} // capacity 1: the writer has something to do
	running int           // jobs taken from the client whose results the writer has not taken
}

// accept authenticates nc and registers its session.
func (s *Server) accept(nc net.Conn, addr netip.Addr) (*session, error) {
	log := s.log.With("client", nc.RemoteAddr().String())
	dc := &deadlineConn{Conn: nc}
	conn := wire.NewConn(dc)
	s.mu.Lock()
	window := s.credits
	s.mu.Unlock()
	err := auth.Server(conn, []byte(s.cfg.Secret), auth.Offer{Workers: s.pool.Workers(), Credits: window}, s.cfg.HandshakeTimeout)
	if err != nil {
		s.mu.Lock()
		s.countTrafficLocked(conn)
		s.mu.Unlock()
		s.handshakeFailed(addr, nc, err)
		return nil, err
	}
	conn.SetMaxFrame(s.cfg.MaxFrame)
	dc.timeout = s.cfg.WriteTimeout // from here on only the writer writes
	sess := &session{
		srv:     s,
		conn:    conn,
		addr:    nc.RemoteAddr().String(),
		log:     log,
		funcs:   make(map[uint64]*sched.Func),
		jobs:    make(map[uint64]*sched.Job),
		window:  window,
		ceiling: window,
		wake:    make(chan struct{}, 1),
		stats:   ClientStats{Addr: nc.RemoteAddr().String(), Since: time.Now()},
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.draining {
		return nil, ErrClosed
	}
	s.sessions[sess] = struct{}{}
	sess.grant(s.credits) // in case it changed during the handshake
	s.stats.IdleSince = time.Time{}
	log.Info("client connected")
	return sess, nil
}

// run serves the session until the client leaves, breaks the protocol,
// goes silent, or the server closes it.
func (sess *session) run() {
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		sess.writeLoop()
	}()
	err := sess.conn.ReadEach("client", sess.srv.cfg.Silence, sess.handle)
	sess.close()
	<-writerDone
	sess.mu.Lock()
	slow := sess.slow
	sess.mu.Unlock()
	switch {
	case slow: // said so already
	case err == nil || isClosedConn(err):
		sess.log.Info("client disconnected")
	default:
		sess.log.Warn("client connection closed", "err", err)
	}
}

// handle acts on one message from the client.
func (sess *session) handle(m wire.Message) error {
	switch m := m.(type) {
	case *wire.Job:
		return sess.job(m)
	case *wire.Cancel:
		sess.srv.cancel(sess, m.ID)
		return nil
	default:
		return fmt.Errorf("%w: unexpected %v from a client", wire.ErrMalformed, m.MessageType())
	}
}

// job checks a client's job against the protocol and starts it.
func (sess *session) job(m *wire.Job) error {
	f := sess.funcs[m.Key]
	switch {
	case len(m.Source) > 0:
		f = sess.srv.register(m.Source)
		sess.funcs[m.Key] = f
	case f == nil:
		return fmt.Errorf("%w: job %d uses function key %d before sending its source", wire.ErrMalformed, m.ID, m.Key)
	}
	if m.TimeoutNS < 0 {
		return fmt.Errorf("%w: job %d has a negative timeout, %d ns", wire.ErrMalformed, m.ID, m.TimeoutNS)
	}
	sess.mu.Lock()
	if sess.running >= sess.ceiling {
		sess.mu.Unlock()
		return fmt.Errorf("%w: client exceeded its %d credits", wire.ErrMalformed, sess.ceiling)
	}
	sess.running++
	sess.mu.Unlock()
	return sess.srv.run(sess, m.ID, f, m.Args, m.Segment, time.Duration(m.TimeoutNS))
}

// report queues a job's outcome for the writer. Its credit stays in use
// until the writer takes it.
func (sess *session) report(r wire.Result) {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.ended {
		return
	}
	n := int64(len(r.Data) + len(r.Segment))
	sess.results = append(sess.results, r)
	sess.queued += n
	sess.unsent += n
	sess.srv.unsent.Add(n)
	if sess.queued > sess.srv.cfg.MaxQueuedBytes && sess.over.IsZero() {
		sess.over = time.Now()
		sess.checkQueueIn(sess.srv.cfg.WriteTimeout)
	}
	sess.signalLocked()
}

// takeLocked moves the next results to send from the queue to batch: small ones
// together up to writeBatchBytes, a large one alone. They return their
// credits now, before a byte of them leaves: the client may send its next
// job the moment it reads a result.
func (sess *session) takeLocked(batch []wire.Result) ([]wire.Result, int64) {
	var size int64
	n := 0
	for n < len(sess.results) {
		next := int64(len(sess.results[n].Data) + len(sess.results[n].Segment))
		if n > 0 && size+next > writeBatchBytes {
			break
		}
		size += next
		n++
	}
	batch = append(batch, sess.results[:n]...)
	rest := copy(sess.results, sess.results[n:])
	clear(sess.results[rest:]) // let the payloads go with the batch
	sess.results = sess.results[:rest]
	sess.queued -= size
	sess.running -= n
	if sess.queued <= sess.srv.cfg.MaxQueuedBytes {
		sess.over = time.Time{}
	}
	return batch, size
}

// checkQueueIn has checkQueue run after d.
func (sess *session) checkQueueIn(d time.Duration) {
	if sess.overDue == nil {
		sess.overDue = time.AfterFunc(d, sess.checkQueue)
	} else {
		sess.overDue.Reset(d)
	}
}

// checkQueue drops the client if its queue has stayed over MaxQueuedBytes
// for WriteTimeout.
func (sess *session) checkQueue() {
	sess.mu.Lock()
	if sess.ended || sess.over.IsZero() {
		sess.mu.Unlock()
		return
	}
	over := time.Since(sess.over)
	if left := sess.srv.cfg.WriteTimeout - over; left > 0 {
		sess.checkQueueIn(left) // it went under and over again since
		sess.mu.Unlock()
		return
	}
	sess.mu.Unlock()
	sess.dropSlow(over, "queued_limit", mib(sess.srv.cfg.MaxQueuedBytes))
}

// dropSlow disconnects a slow consumer, saying how much it left unread
// and for how long. Its jobs go as those of any client that left.
func (sess *session) dropSlow(over time.Duration, why ...any) {
	sess.mu.Lock()
	if sess.ended || sess.slow {
		sess.mu.Unlock()
		return
	}
	sess.slow = true
	unsent := sess.unsent
	sess.mu.Unlock()
	sess.srv.slow.Add(1)
	sess.log.Warn(fmt.Sprintf("slow consumer: client %s has %s of results unread for %v",
		sess.addr, mib(unsent), roundForLog(over)), why...)
	sess.close()
}

// grant changes the client's window; the writer tells it. Jobs the client
// sent before it heard of a smaller window are still accepted: the
// largest window ever granted is what is enforced.
func (sess *session) grant(window int) {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if window == sess.window {
		return
	}
	sess.window = window
	sess.ceiling = max(sess.ceiling, window)
	sess.granted = true
	sess.signalLocked()
}

// goodbye asks the writer to tell the client the server is draining.
func (sess *session) goodbye(reason string) {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.bye == "" {
		sess.bye = reason
		sess.signalLocked()
	}
}

func (sess *session) signalLocked() {
	select {
	case sess.wake <- struct{}{}:
	default:
	}
}

// close ends the session; its reader and writer return soon after.
func (sess *session) close() {
	sess.mu.Lock()
	if !sess.ended {
		sess.ended = true
		sess.results = nil
		sess.srv.unsent.Add(-sess.unsent)
		sess.queued, sess.unsent = 0, 0
		if sess.overDue != nil {
			sess.overDue.Stop()
		}
		sess.signalLocked()
	}
	sess.mu.Unlock()
	sess.conn.Close()
}

// writeLoop sends results in batches, one flush per batch, a heartbeat
// after a quiet spell, and the goodbye; after a goodbye it closes the
// connection once the result of every job the client sent has been sent.
func (sess *session) writeLoop() {
	quiet := wire.Quiet(sess.srv.cfg.Silence)
	timer := time.NewTimer(quiet)
	defer timer.Stop()
	var batch []wire.Result
	for {
		select {
		case <-sess.wake:
		case <-timer.C:
			if err := sess.send(&wire.Heartbeat{}); err != nil {
				sess.fail(err)
				return
			}
			timer.Reset(quiet)
			continue
		}
		sess.mu.Lock()
		if sess.ended {
			sess.mu.Unlock()
			return
		}
		var size int64
		batch, size = sess.takeLocked(batch[:0])
		var credits *wire.Credits
		if sess.granted && sess.bye == "" {
			credits = &wire.Credits{Credits: sess.window}
			sess.granted = false
		}
		bye := sess.bye
		sayBye := bye != "" && !sess.byeSent
		sess.byeSent = sess.byeSent || sayBye
		sess.mu.Unlock()

		if credits != nil {
			if err := sess.conn.Write(credits); err != nil {
				sess.fail(err)
				return
			}
		}
		for i := range batch {
			if err := sess.conn.Write(&batch[i]); err != nil {
				sess.fail(fmt.Errorf("send result of job %d: %w", batch[i].ID, err))
				return
			}
		}
		if sayBye {
			if err := sess.conn.Write(&wire.Goodbye{Reason: bye}); err != nil {
				sess.fail(err)
				return
			}
		}
		if err := sess.conn.Flush(); err != nil {
			sess.fail(err)
			return
		}
		clear(batch) // let the payloads go

		sess.mu.Lock()
		if sess.ended {
			sess.mu.Unlock()
			return
		}
		sess.unsent -= size
		sess.srv.unsent.Add(-size)
		finished := sess.byeSent && sess.running == 0
		if len(sess.results) > 0 {
			sess.signalLocked() // the rest of the queue, next
		}
		sess.mu.Unlock()
		if finished {
			sess.close()
			return
		}
		timer.Reset(quiet)
	}
}

// send writes and flushes one message.
func (sess *session) send(m wire.Message) error {
	if err := sess.conn.Write(m); err != nil {
		return err
	}
	return sess.conn.Flush()
}

// fail closes a session whose connection can no longer be written: a
// client that took nothing for WriteTimeout is a slow consumer.
func (sess *session) fail(err error) {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		sess.dropSlow(sess.srv.cfg.WriteTimeout, "write_timeout", sess.srv.cfg.WriteTimeout)
		return
	}
	if !isClosedConn(err) {
		sess.log.Warn("client connection failed", "err", err)
	}
	sess.close()
}

func isClosedConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed)
}
