package wire_test

import (
	"bytes"
	"errors"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/ppgo/ppgo/core/internal/conntest"
	"github.com/ppgo/ppgo/core/wire"
)

// streamConn is a net.Conn over bytes: Read drains in, Write appends to out
// and counts the calls, so a test can see what reached the "network" and
// in how many writes. Deadlines are accepted and ignored.
type streamConn struct {
	in     *bytes.Reader
	out    bytes.Buffer
	writes int
}

func newStreamConn(in []byte) *streamConn { return &streamConn{in: bytes.NewReader(in)} }

func (s *streamConn) Read(p []byte) (int, error) { return s.in.Read(p) }
func (s *streamConn) Write(p []byte) (int, error) {
	s.writes++
	return s.out.Write(p)
}
func (s *streamConn) Close() error                     { return nil }
func (s *streamConn) LocalAddr() net.Addr              { return fakeAddr{} }
func (s *streamConn) RemoteAddr() net.Addr             { return fakeAddr{} }
func (s *streamConn) SetDeadline(time.Time) error      { return nil }
func (s *streamConn) SetReadDeadline(time.Time) error  { return nil }
func (s *streamConn) SetWriteDeadline(time.Time) error { return nil }

type fakeAddr struct{}

func (fakeAddr) Network() string { return "bytes" }
func (fakeAddr) String() string  { return "bytes" }

// The connected pairs every test runs over.
type transport = conntest.Transport

var (
	transports = conntest.Transports
	pipePair   = conntest.PipePair
	tcpPair    = conntest.TCPPair
)

// guard bounds every blocking step of a test: a broken Conn fails the test
// instead of hanging it.
const guard = 10 * time.Second

// exchange writes msgs on w (in another goroutine, since net.Pipe blocks a
// writer until the reader reads), flushes once, and returns what r reads.
func exchange(t *testing.T, w, r *wire.Conn, msgs ...wire.Message) []wire.Message {
	t.Helper()
	werr := make(chan error, 1)
	go func() {
		for _, m := range msgs {
			if err := w.Write(m); err != nil {
				werr <- err
				return
			}
		}
		werr <- w.Flush()
	}()
	if err := r.SetDeadline(time.Now().Add(guard)); err != nil {
		t.Fatal(err)
	}
	var got []wire.Message
	for range msgs {
		m, err := r.Read()
		if err != nil {
			t.Fatalf("read message %d: %v (writer: %v)", len(got), err, writerErr(werr))
		}
		got = append(got, m)
	}
	select {
	case err := <-werr:
		if err != nil {
			t.Fatalf("write: %v", err)
		}
	case <-time.After(guard):
		t.Fatal("writer did not finish")
	}
	return got
}

func writerErr(ch chan error) error {
	select {
	case err := <-ch:
		return err
	default:
		return errors.New("still writing")
	}
}

// encode returns the frames Conn.Write produces for msgs.
func encode(t testing.TB, msgs ...wire.Message) []byte {
	t.Helper()
	s := newStreamConn(nil)
	c := wire.NewConn(s)
	c.SetMaxFrame(wire.DefaultMaxFrame)
	for _, m := range msgs {
		if err := c.Write(m); err != nil {
			t.Fatalf("write %v: %v", m.MessageType(), err)
		}
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	return s.out.Bytes()
}

// frame builds a raw frame: the length counts the type byte and the body.
func frame(typ wire.Type, body ...byte) []byte {
	n := uint32(len(body) + 1)
	return append([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n), byte(typ)}, body...)
}

// allocated is the number of bytes this process has allocated so far.
func allocated() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

// readAll reads frames from in until an error, which it returns with the
// messages read before it.
func readAll(in []byte, limit uint32) ([]wire.Message, error) {
	c := wire.NewConn(newStreamConn(in))
	c.SetMaxFrame(limit)
	var msgs []wire.Message
	for {
		m, err := c.Read()
		if err != nil {
			return msgs, err
		}
		msgs = append(msgs, m)
	}
}
