package serve

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/ppgo/ppgo/core/auth"
	"github.com/ppgo/ppgo/core/sched"
	"github.com/ppgo/ppgo/core/wire"
)

// session is one authenticated client connection. Its reader goroutine
// turns Job frames into pool jobs; its writer goroutine sends results,
// heartbeats and the goodbye.
type session struct {
	srv   *Server
	conn  *wire.Conn
	log   *slog.Logger
	funcs map[uint64]*sched.Func // client key → node function; reader only

	mu      sync.Mutex
	window  int  // credits the client has been granted
	ceiling int  // the largest window ever granted: what is enforced
	granted bool // window changed since the client was told
	results []wire.Result
	bye     string // non-empty: send Goodbye with this reason
	byeSent bool
	ended   bool
	wake    chan struct{} // capacity 1: the writer has something to do
	running int           // jobs taken from the client, not yet reported
}

// accept authenticates nc and registers its session.
func (s *Server) accept(nc net.Conn, addr netip.Addr) (*session, error) {
	log := s.log.With("client", nc.RemoteAddr().String())
	conn := wire.NewConn(nc)
	s.mu.Lock()
	window := s.credits
	s.mu.Unlock()
	err := auth.Server(conn, []byte(s.cfg.Secret), auth.Offer{Workers: s.pool.Workers(), Credits: window}, s.cfg.HandshakeTimeout)
	if err != nil {
		s.handshakeFailed(addr, nc, err)
		return nil, err
	}
	conn.SetMaxFrame(s.cfg.MaxFrame)
	sess := &session{
		srv:     s,
		conn:    conn,
		log:     log,
		funcs:   make(map[uint64]*sched.Func),
		window:  window,
		ceiling: window,
		wake:    make(chan struct{}, 1),
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
	switch {
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
	sess.mu.Lock()
	if sess.running >= sess.ceiling {
		sess.mu.Unlock()
		return fmt.Errorf("%w: client exceeded its %d credits", wire.ErrMalformed, sess.ceiling)
	}
	sess.running++
	sess.mu.Unlock()
	sess.srv.run(sess, m.ID, f, m.Args)
	return nil
}

// report queues a job's outcome for the writer.
func (sess *session) report(r wire.Result) {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.ended {
		return
	}
	sess.running--
	sess.results = append(sess.results, r)
	sess.signalLocked()
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
		sess.signalLocked()
	}
	sess.mu.Unlock()
	sess.conn.Close()
}

// writeLoop sends results in batches, one flush per batch, a heartbeat
// after a quiet spell, and the goodbye; after a goodbye it closes the
// connection once every job the client sent has been reported.
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
		batch, sess.results = sess.results, batch[:0]
		var credits *wire.Credits
		if sess.granted && sess.bye == "" {
			credits = &wire.Credits{Credits: sess.window}
			sess.granted = false
		}
		bye := sess.bye
		sayBye := bye != "" && !sess.byeSent
		sess.byeSent = sess.byeSent || sayBye
		finished := sess.byeSent && sess.running == 0
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
			batch[i] = wire.Result{} // let the payload go
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

// fail closes a session whose connection can no longer be written.
func (sess *session) fail(err error) {
	if !isClosedConn(err) {
		sess.log.Warn("client connection failed", "err", err)
	}
	sess.close()
}

func isClosedConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed)
}
