package wire_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"syscall"
	"testing"
	"time"

	"github.com/ppgo/ppgo/core/wire"
)

// ReadEach hands on every message but heartbeats, ends with the first
// error of a read or of handle, keeps a peer that heartbeats however long
// it has nothing else to say, and gives up on a silent one, naming it.
func TestReadEach(t *testing.T) {
	const silence = 100 * time.Millisecond
	errStop := errors.New("handle says stop")
	result := func(id uint64) *wire.Result { return &wire.Result{ID: id} }
	// A clean close is io.EOF; net.Pipe may say it earlier, refusing the
	// next read deadline once its peer has closed.
	closed := func(err error) bool { return errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) }
	for _, tc := range []struct {
		name string
		// peer writes the other end's side; done closes when ReadEach has
		// returned.
		peer    func(w *wire.Conn, done <-chan struct{})
		stopAt  uint64 // handle fails on the Result with this ID; 0: never
		want    []string
		wantErr func(error) bool
		atLeast time.Duration // ReadEach may not return sooner
	}{
		{
			name: "heartbeats are not handed on; a clean close ends it",
			peer: func(w *wire.Conn, _ <-chan struct{}) {
				send(w, result(1), &wire.Heartbeat{}, &wire.Credits{Credits: 3}, &wire.Heartbeat{}, result(2))
				w.Close()
			},
			want:    []string{"Result 1", "Credits", "Result 2"},
			wantErr: closed,
		},
		{
			name: "handle's error ends it",
			peer: func(w *wire.Conn, _ <-chan struct{}) {
				send(w, result(1), result(2), result(3))
			},
			stopAt:  2,
			want:    []string{"Result 1", "Result 2"},
			wantErr: func(err error) bool { return errors.Is(err, errStop) },
		},
		{
			name: "a malformed frame ends it",
			peer: func(w *wire.Conn, _ <-chan struct{}) {
				send(w, result(1))
				w.NetConn().Write(frame(wire.Type(99), 0x90))
			},
			want:    []string{"Result 1"},
			wantErr: func(err error) bool { return errors.Is(err, wire.ErrMalformed) },
		},
		{
			name: "heartbeats keep a quiet peer well past silence",
			peer: func(w *wire.Conn, _ <-chan struct{}) {
				for range 12 {
					time.Sleep(silence / 4)
					send(w, &wire.Heartbeat{})
				}
				send(w, result(1))
				w.Close()
			},
			want:    []string{"Result 1"},
			wantErr: closed,
			atLeast: 3 * silence,
		},
		{
			name: "a silent peer is given up and named",
			peer: func(w *wire.Conn, done <-chan struct{}) {
				send(w, result(1))
				<-done // and not a word more
			},
			want:    []string{"Result 1"},
			wantErr: func(err error) bool { return err != nil && err.Error() == "node silent for 100ms" },
			atLeast: silence,
		},
	} {
		for _, tr := range transports {
			t.Run(tc.name+"/"+tr.Name, func(t *testing.T) {
				t.Parallel()
				a, b := tr.Pair(t)
				w, r := wire.NewConn(a), wire.NewConn(b)
				done := make(chan struct{})
				go tc.peer(w, done)

				var got []string
				handle := func(m wire.Message) error {
					s := m.MessageType().String()
					if res, ok := m.(*wire.Result); ok {
						s = fmt.Sprint(s, " ", res.ID)
						if res.ID == tc.stopAt {
							got = append(got, s)
							return errStop
						}
					}
					got = append(got, s)
					return nil
				}
				start := time.Now()
				errc := make(chan error, 1)
				go func() { errc <- r.ReadEach("node", silence, handle) }()
				var err error
				select {
				case err = <-errc:
				case <-time.After(guard):
					t.Fatalf("ReadEach still reading after %v", guard)
				}
				close(done)
				if el := time.Since(start); el < tc.atLeast {
					t.Errorf("returned after %v, want at least %v", el, tc.atLeast)
				}
				if !tc.wantErr(err) {
					t.Errorf("returned %v", err)
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Errorf("handled %q, want %q", got, tc.want)
				}
			})
		}
	}
}

// send writes and flushes msgs, one at a time: over net.Pipe each write
// waits for its reader. Errors are the reader having stopped.
func send(w *wire.Conn, msgs ...wire.Message) {
	for _, m := range msgs {
		if w.Write(m) != nil || w.Flush() != nil {
			return
		}
	}
}

// brokenConn is a net.Conn whose reads fail with err, as the kernel fails
// them when it gives up on a connection.
type brokenConn struct {
	streamConn
	err error
}

func (b *brokenConn) Read([]byte) (int, error) { return 0, b.err }

// ReadEach says "silent" only when the peer was: when its own deadline
// passed. A connection the kernel gave up on (no acknowledgement within
// the TCP retransmission timeout: ETIMEDOUT, which is also a net.Error
// Timeout) or one reset mid-read is reported as what it is, naming the
// peer and keeping the cause for errors.Is.
func TestReadEachReportsWhatBrokeTheConnection(t *testing.T) {
	opErr := func(errno syscall.Errno) error {
		return &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", errno)}
	}
	for _, tc := range []struct {
		name  string
		err   error
		cause error
		want  string
	}{
		{"kernel timeout", opErr(syscall.ETIMEDOUT), syscall.ETIMEDOUT, "connection to node broke: read tcp: read: connection timed out"},
		{"reset", opErr(syscall.ECONNRESET), syscall.ECONNRESET, "connection to node broke: read tcp: read: connection reset by peer"},
		{"closed here", &net.OpError{Op: "read", Net: "tcp", Err: net.ErrClosed}, net.ErrClosed, "read tcp: use of closed network connection"},
		{"clean close", io.EOF, io.EOF, "EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := wire.NewConn(&brokenConn{err: tc.err})
			err := c.ReadEach("node", time.Minute, func(wire.Message) error { return nil })
			if !errors.Is(err, tc.cause) || err.Error() != tc.want {
				t.Errorf("ReadEach returned %q, want %q wrapping %v", err, tc.want, tc.cause)
			}
		})
	}
}

// ReadBursts calls drained once the messages that arrived together are
// handled, heartbeats among them, before it waits for more: not between
// two buffered messages, and never with a whole message left unread.
func TestReadBursts(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.Name, func(t *testing.T) {
			a, b := tr.Pair(t)
			w, r := wire.NewConn(a), wire.NewConn(b)
			var got []string
			second := make(chan struct{}) // the first burst is drained
			go func() {
				for _, m := range []wire.Message{&wire.Result{ID: 1}, &wire.Result{ID: 2}, &wire.Heartbeat{}} {
					if w.Write(m) != nil {
						return
					}
				}
				if w.Flush() != nil {
					return
				}
				select {
				case <-second:
					send(w, &wire.Result{ID: 3})
				case <-time.After(guard):
				}
				w.Close()
			}()
			drains := 0
			err := r.ReadBursts("peer", guard, func(m wire.Message) error {
				got = append(got, fmt.Sprintf("Result %d", m.(*wire.Result).ID))
				return nil
			}, func() {
				drains++
				got = append(got, "drained")
				if drains == 2 {
					close(second)
				}
			})
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrClosedPipe) {
				t.Fatalf("ReadBursts ended with %v, want the peer's close", err)
			}
			want := []string{"drained", "Result 1", "Result 2", "drained", "Result 3", "drained"}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got %q, want %q", got, want)
			}
		})
	}
}
