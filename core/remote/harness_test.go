// The test harness: a Reporter that records what the node tells the
// scheduler, a hand-written ppserver built on wire.Conn and auth.Server
// that tests script message by message, and a real serve.Server with fake
// workers.

package remote

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/ppgo/ppgo/core/auth"
	"github.com/ppgo/ppgo/core/internal/fakeworker"
	"github.com/ppgo/ppgo/core/pool"
	"github.com/ppgo/ppgo/core/sched"
	"github.com/ppgo/ppgo/core/serve"
	"github.com/ppgo/ppgo/core/wire"
)

// deadline bounds every wait for something that should happen soon.
const deadline = 10 * time.Second

const secret = "s3cret"

func TestMain(m *testing.M) {
	fakeworker.RunIfWorker()
	os.Exit(m.Run())
}

// call is one call the node made to its Reporter: a Finish (job set) or a
// SetCapacity.
type call struct {
	job      *sched.Job
	out      sched.Outcome
	capacity int
}

func (c call) String() string {
	if c.job != nil {
		return fmt.Sprintf("Finish(job %d, data %q, lost %v, unsent %v)", c.job.ID, c.out.Data, c.out.Lost, c.out.Unsent)
	}
	return fmt.Sprintf("SetCapacity(%d)", c.capacity)
}

// fakeReporter records every call, in order, and never blocks.
type fakeReporter struct{ calls chan call }

func newReporter() *fakeReporter { return &fakeReporter{calls: make(chan call, 1024)} }

func (r *fakeReporter) Finish(_ sched.Node, j *sched.Job, o sched.Outcome) {
	r.calls <- call{job: j, out: o}
}

func (r *fakeReporter) SetCapacity(_ sched.Node, capacity int) {
	r.calls <- call{capacity: capacity}
}

func (r *fakeReporter) next(t *testing.T) call {
	t.Helper()
	select {
	case c := <-r.calls:
		return c
	case <-time.After(deadline):
		t.Fatalf("no call to the reporter within %v", deadline)
		return call{}
	}
}

// capacity waits for the next call, which must be SetCapacity(want).
func (r *fakeReporter) capacity(t *testing.T, want int) {
	t.Helper()
	if c := r.next(t); c.job != nil || c.capacity != want {
		t.Fatalf("got %v, want SetCapacity(%d)", c, want)
	}
}

// finish waits for the next call, which must be a Finish.
func (r *fakeReporter) finish(t *testing.T) call {
	t.Helper()
	c := r.next(t)
	if c.job == nil {
		t.Fatalf("got %v, want Finish", c)
	}
	return c
}

// finishWithCredits waits for the next Finish, letting SetCapacity calls
// pass: a real node grants more credits once it has timed a short job.
func (r *fakeReporter) finishWithCredits(t *testing.T) call {
	t.Helper()
	for {
		if c := r.next(t); c.job != nil {
			return c
		}
	}
}

// none fails if the node has made a call not taken yet.
func (r *fakeReporter) none(t *testing.T) {
	t.Helper()
	select {
	case c := <-r.calls:
		t.Fatalf("unexpected %v", c)
	default:
	}
}

// events collects a node's events.
type events chan Event

func (e events) push(ev Event) { e <- ev }

// next waits for the next event, which must be of kind.
func (e events) next(t *testing.T, kind EventKind) Event {
	t.Helper()
	select {
	case ev := <-e:
		if ev.Kind != kind {
			t.Fatalf("event %q, want kind %d", ev, kind)
		}
		return ev
	case <-time.After(deadline):
		t.Fatalf("no event within %v", deadline)
		return Event{}
	}
}

func (e events) none(t *testing.T) {
	t.Helper()
	select {
	case ev := <-e:
		t.Fatalf("unexpected event %q", ev)
	default:
	}
}

// newNode makes a started node for addr reporting to a fakeReporter.
func newNode(t *testing.T, addr string, tweak func(*Config)) (*Node, *fakeReporter, events) {
	t.Helper()
	rep, evs := newReporter(), make(events, 256)
	cfg := Config{Addr: addr, Secret: secret, Redial: true, Events: evs.push}
	if tweak != nil {
		tweak(&cfg)
	}
	r := New(cfg, rep)
	t.Cleanup(r.Close)
	r.Start()
	return r, rep, evs
}

// fakeServer is a ppserver a test scripts by hand: it authenticates each
// connection with secret and hands it to the test.
type fakeServer struct {
	t     *testing.T
	ln    net.Listener
	addr  string
	conns chan *wire.Conn // authenticated
	tries chan error      // every handshake's outcome

	mu   sync.Mutex
	open []net.Conn
}

func newFakeServer(t *testing.T, secret string, offer auth.Offer) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{t: t, ln: ln, addr: ln.Addr().String(), conns: make(chan *wire.Conn, 16), tries: make(chan error, 64)}
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, nc := range s.open {
			nc.Close()
		}
	})
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.open = append(s.open, nc)
			s.mu.Unlock()
			conn := wire.NewConn(nc)
			err = auth.Server(conn, []byte(secret), offer, deadline)
			select {
			case s.tries <- err:
			default:
			}
			if err != nil {
				nc.Close()
				continue
			}
			conn.SetMaxFrame(wire.DefaultMaxFrame)
			s.conns <- conn
		}
	}()
	return s
}

// accept waits for the next authenticated connection.
func (s *fakeServer) accept(t *testing.T) *peer {
	t.Helper()
	select {
	case c := <-s.conns:
		return &peer{t: t, conn: c}
	case <-time.After(deadline):
		t.Fatalf("no connection within %v", deadline)
		return nil
	}
}

// peer is the fake server's end of one connection.
type peer struct {
	t    *testing.T
	conn *wire.Conn
}

func (p *peer) send(ms ...wire.Message) {
	p.t.Helper()
	for _, m := range ms {
		if err := p.conn.Write(m); err != nil {
			p.t.Fatalf("write %v: %v", m.MessageType(), err)
		}
	}
	if err := p.conn.Flush(); err != nil {
		p.t.Fatalf("flush: %v", err)
	}
}

// read returns the next message other than a heartbeat, or the error
// that ended the connection.
func (p *peer) read() (wire.Message, error) {
	p.conn.SetDeadline(time.Now().Add(deadline))
	defer p.conn.SetDeadline(time.Time{})
	for {
		m, err := p.conn.Read()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				p.t.Fatalf("nothing from the client within %v", deadline)
			}
			return nil, err
		}
		if _, ok := m.(*wire.Heartbeat); !ok {
			return m, nil
		}
	}
}

// job reads the next message, which must be a Job.
func (p *peer) job() *wire.Job {
	p.t.Helper()
	m, err := p.read()
	if err != nil {
		p.t.Fatalf("read job: %v", err)
	}
	j, ok := m.(*wire.Job)
	if !ok {
		p.t.Fatalf("got %v, want Job", m.MessageType())
	}
	return j
}

// closed fails unless the client closes the connection.
func (p *peer) closed() {
	p.t.Helper()
	m, err := p.read()
	if err == nil {
		p.t.Fatalf("got %v, want the connection closed", m.MessageType())
	}
}

// newJob is job id running function key (source "src<key>") on args.
func newJob(id, key uint64, args string) *sched.Job {
	return &sched.Job{ID: id, Func: &sched.Func{Key: key, Source: []byte(fmt.Sprint("src", key))}, Args: []byte(args)}
}

// startServe runs a real node with n fake workers.
func startServe(t testing.TB, n int, tweak func(*serve.Config)) (*serve.Server, string) {
	t.Helper()
	srv, addr, _ := startServeMode(t, "echo", n, tweak)
	return srv, addr
}

// startServeMode is startServe with workers in mode, and their hub.
func startServeMode(t testing.TB, mode string, n int, tweak func(*serve.Config)) (*serve.Server, string, *fakeworker.Hub) {
	t.Helper()
	hub := fakeworker.NewHub(t, deadline)
	argv, env := hub.Command(mode)
	cfg := serve.Config{
		Pool:   pool.Config{Argv: argv, Env: env, Workers: n},
		Secret: secret,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	srv, err := serve.New(cfg)
	if err != nil {
		t.Fatalf("serve.New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(srv.Close)
	return srv, ln.Addr().String(), hub
}
