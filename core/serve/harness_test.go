// The test harness: a node with fake workers on a loopback port, a
// hand-written client that speaks the wire protocol directly, and a log
// that tests can read.

package serve

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ppgo/ppgo/core/auth"
	"github.com/ppgo/ppgo/core/internal/fakeworker"
	"github.com/ppgo/ppgo/core/pool"
	"github.com/ppgo/ppgo/core/wire"
)

// deadline bounds every wait for something that should happen soon.
const deadline = 10 * time.Second

const secret = "s3cret"

func TestMain(m *testing.M) {
	fakeworker.RunIfWorker()
	os.Exit(m.Run())
}

// logBuffer is a goroutine-safe log sink.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// node is a serve.Server under test.
type node struct {
	srv  *Server
	addr string
	hub  *fakeworker.Hub
	log  *logBuffer
}

// startNode runs a node with n fake workers; tweak may adjust its config.
func startNode(t *testing.T, n int, tweak func(*Config)) *node {
	t.Helper()
	return startNodeOn(t, n, tweak, nil)
}

// startRecordingNode is startNode with workers that tell the hub every job
// they read (Hub.Ran), at the cost of a connection to the hub per job.
func startRecordingNode(t *testing.T, n int, tweak func(*Config)) *node {
	t.Helper()
	return startNodeMode(t, "record", n, tweak, nil)
}

// startNodeOn is startNode with the node's listener wrapped by wrap (nil:
// as it is).
func startNodeOn(t *testing.T, n int, tweak func(*Config), wrap func(net.Listener) net.Listener) *node {
	t.Helper()
	return startNodeMode(t, "echo", n, tweak, wrap)
}

func startNodeMode(t *testing.T, mode string, n int, tweak func(*Config), wrap func(net.Listener) net.Listener) *node {
	t.Helper()
	h := fakeworker.NewHub(t, deadline)
	argv, env := h.Command(mode)
	logs := &logBuffer{}
	cfg := Config{
		Pool:   pool.Config{Argv: argv, Env: env, Workers: n},
		Secret: secret,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if wrap != nil {
		ln = wrap(ln)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, ErrClosed) {
			t.Errorf("Serve returned %v, want ErrClosed", err)
		}
	})
	return &node{srv: srv, addr: addr, hub: h, log: logs}
}

// block waits for the next job to block on the node's workers and keeps
// the event referenced until the test ends: an event the test drops is
// garbage, the finalizer of its hub connection closes it, and the worker
// takes that as its release, finishing the job early.
func (nd *node) block(t *testing.T) fakeworker.Event {
	t.Helper()
	e := nd.hub.NextBlock(t)
	t.Cleanup(e.Release)
	return e
}

// client is a hand-written protocol client.
type client struct {
	t       *testing.T
	conn    *wire.Conn
	offer   auth.Offer
	credits int // the last window granted by a Credits message
}

// dial connects and authenticates to nd with secret s.
func dial(t *testing.T, nd *node, s string) (*client, error) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", nd.addr, deadline)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	conn := wire.NewConn(nc)
	offer, err := auth.Client(conn, []byte(s), deadline)
	if err != nil {
		nc.Close()
		return nil, err
	}
	conn.SetMaxFrame(wire.DefaultMaxFrame)
	return &client{t: t, conn: conn, offer: offer}, nil
}

func mustDial(t *testing.T, nd *node) *client {
	t.Helper()
	c, err := dial(t, nd, secret)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	return c
}

// send writes and flushes messages.
func (c *client) send(ms ...wire.Message) {
	c.t.Helper()
	for _, m := range ms {
		if err := c.conn.Write(m); err != nil {
			c.t.Fatalf("write %v: %v", m.MessageType(), err)
		}
	}
	if err := c.conn.Flush(); err != nil {
		c.t.Fatalf("flush: %v", err)
	}
}

// read returns the next message other than a heartbeat, or the error
// that ended the connection.
func (c *client) read() (wire.Message, error) {
	c.conn.SetDeadline(time.Now().Add(deadline))
	defer c.conn.SetDeadline(time.Time{})
	for {
		m, err := c.conn.Read()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.t.Fatalf("nothing from the node within %v", deadline)
			}
			return nil, err
		}
		switch m := m.(type) {
		case *wire.Heartbeat:
		case *wire.Credits:
			c.credits = m.Credits // the node grants more once it times short jobs
		default:
			return m, nil
		}
	}
}

// result reads the next message, which must be a Result.
func (c *client) result() *wire.Result {
	c.t.Helper()
	m, err := c.read()
	if err != nil {
		c.t.Fatalf("read result: %v", err)
	}
	r, ok := m.(*wire.Result)
	if !ok {
		c.t.Fatalf("got %v, want Result", m.MessageType())
	}
	return r
}

// closed fails unless the node closes the connection (with nothing but
// heartbeats before).
func (c *client) closed() {
	c.t.Helper()
	m, err := c.read()
	if err == nil {
		c.t.Fatalf("got %v, want the connection closed", m.MessageType())
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, net.ErrClosed) &&
		!strings.Contains(err.Error(), "connection reset") {
		c.t.Fatalf("connection ended with %v, want EOF or reset", err)
	}
}

// reply decodes what the fake worker saw.
func reply(t *testing.T, r *wire.Result) fakeworker.Reply {
	t.Helper()
	if r.Status != wire.StatusDone {
		t.Fatalf("job %d %v: %s", r.ID, r.Status, r.Reason)
	}
	var rep fakeworker.Reply
	if err := json.Unmarshal(r.Data, &rep); err != nil {
		t.Fatalf("job %d: result %q: %v", r.ID, r.Data, err)
	}
	return rep
}
