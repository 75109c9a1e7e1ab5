package auth_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ppgo/ppgo/core/auth"
	"github.com/ppgo/ppgo/core/internal/conntest"
	"github.com/ppgo/ppgo/core/wire"
)

const (
	secret = "s3cret: shared by client and node"
	// The role labels exactly as SPEC.md gives them: the tests that use
	// them check the implementation against the spec.
	clientLabel = "ppgo client proof v1"
	serverLabel = "ppgo server proof v1"
	// guard bounds every wait: a handshake that hangs fails its test.
	guard = 10 * time.Second
)

// specProof is the proof as SPEC.md defines it.
func specProof(key, label string, serverNonce, clientNonce []byte) []byte {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(label))
	mac.Write(serverNonce)
	mac.Write(clientNonce)
	return mac.Sum(nil)
}

func nonce() []byte {
	n := make([]byte, wire.NonceSize)
	rand.Read(n)
	return n
}

// The connected pairs every test runs over.
type transport = conntest.Transport

var (
	transports = conntest.Transports
	pipePair   = conntest.PipePair
	tcpPair    = conntest.TCPPair
)

type clientResult struct {
	offer auth.Offer
	err   error
}

// goClient runs auth.Client on nc in another goroutine.
func goClient(nc net.Conn, key string, timeout time.Duration) <-chan clientResult {
	ch := make(chan clientResult, 1)
	go func() {
		offer, err := auth.Client(wire.NewConn(nc), []byte(key), timeout)
		ch <- clientResult{offer, err}
	}()
	return ch
}

// goServer runs auth.Server on nc in another goroutine.
func goServer(nc net.Conn, key string, offer auth.Offer, timeout time.Duration) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- auth.Server(wire.NewConn(nc), []byte(key), offer, timeout) }()
	return ch
}

// goPeer runs a hand-written peer on nc in another goroutine.
func goPeer(nc net.Conn, script func(c *wire.Conn) error) <-chan error {
	ch := make(chan error, 1)
	go func() {
		c := wire.NewConn(nc)
		c.SetDeadline(time.Now().Add(guard))
		ch <- script(c)
	}()
	return ch
}

func await[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(guard):
		t.Fatalf("%s did not return within %v", what, guard)
	}
	var zero T
	return zero
}

// send writes and flushes m.
func send(c *wire.Conn, m wire.Message) error {
	if err := c.Write(m); err != nil {
		return err
	}
	return c.Flush()
}

// deadlineConn records the deadlines set on a connection.
type deadlineConn struct {
	net.Conn
	mu    sync.Mutex
	calls []time.Time
}

func (d *deadlineConn) SetDeadline(t time.Time) error {
	d.mu.Lock()
	d.calls = append(d.calls, t)
	d.mu.Unlock()
	return d.Conn.SetDeadline(t)
}

func (d *deadlineConn) deadlines() []time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]time.Time(nil), d.calls...)
}

// streamConn is a net.Conn over bytes: it reads in, discards what is
// written, and ignores deadlines.
type streamConn struct {
	in *bytes.Reader
}

func (s *streamConn) Read(p []byte) (int, error)       { return s.in.Read(p) }
func (s *streamConn) Write(p []byte) (int, error)      { return len(p), nil }
func (s *streamConn) Close() error                     { return nil }
func (s *streamConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (s *streamConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (s *streamConn) SetDeadline(time.Time) error      { return nil }
func (s *streamConn) SetReadDeadline(time.Time) error  { return nil }
func (s *streamConn) SetWriteDeadline(time.Time) error { return nil }

// frames encodes msgs as a peer would send them.
func frames(t testing.TB, msgs ...wire.Message) []byte {
	t.Helper()
	var out bytes.Buffer
	c := wire.NewConn(&recordConn{w: &out})
	for _, m := range msgs {
		if err := c.Write(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// recordConn is a write-only net.Conn into w; reads see EOF.
type recordConn struct {
	streamConn
	w *bytes.Buffer
}

func (r *recordConn) Read([]byte) (int, error)    { return 0, net.ErrClosed }
func (r *recordConn) Write(p []byte) (int, error) { return r.w.Write(p) }

// tapConn records what is written through it.
type tapConn struct {
	net.Conn
	mu      sync.Mutex
	written bytes.Buffer
}

func (c *tapConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.written.Write(p)
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *tapConn) bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.written.Bytes())
}
