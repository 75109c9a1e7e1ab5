package wire_test

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/ppgo/ppgo/core/wire"
)

// refusedOf returns a Refused whose frame length (type byte + body) is n,
// for 260 <= n <= 65540: fixarray(1) + str16 header (3) + reason.
func refusedOf(n int) *wire.Refused {
	return &wire.Refused{Reason: strings.Repeat("r", n-5)}
}

func TestNewConnStartsAtHandshakeLimit(t *testing.T) {
	c := wire.NewConn(newStreamConn(nil))
	if got := c.MaxFrame(); got != wire.HandshakeMaxFrame {
		t.Fatalf("MaxFrame() = %d, want HandshakeMaxFrame %d", got, wire.HandshakeMaxFrame)
	}
	c.SetMaxFrame(wire.DefaultMaxFrame)
	if got := c.MaxFrame(); got != wire.DefaultMaxFrame {
		t.Fatalf("after SetMaxFrame: MaxFrame() = %d", got)
	}
}

// TestWriteLimit: a frame of exactly the limit goes out; one byte more is
// refused, nothing of it is written, and the Conn stays usable.
func TestWriteLimit(t *testing.T) {
	s := newStreamConn(nil)
	c := wire.NewConn(s)
	fits, over := refusedOf(wire.HandshakeMaxFrame), refusedOf(wire.HandshakeMaxFrame+1)
	if err := c.Write(fits); err != nil {
		t.Fatalf("frame of exactly the limit: %v", err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	sent := s.out.Len()
	if sent != 4+wire.HandshakeMaxFrame {
		t.Fatalf("frame of the limit took %d bytes, want %d: refusedOf is off", sent, 4+wire.HandshakeMaxFrame)
	}
	if err := c.Write(over); !errors.Is(err, wire.ErrFrameTooLarge) {
		t.Fatalf("frame over the limit: %v, want ErrFrameTooLarge", err)
	}
	if c.Buffered() {
		t.Fatal("a refused frame was buffered")
	}
	if err := c.Write(&wire.Heartbeat{}); err != nil {
		t.Fatalf("after a refused frame: %v", err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	got, err := readAll(s.out.Bytes(), wire.HandshakeMaxFrame)
	if !errors.Is(err, io.EOF) || len(got) != 2 || got[0].MessageType() != wire.TypeRefused || got[1].MessageType() != wire.TypeHeartbeat {
		t.Fatalf("stream holds %v, %v; want the frame that fits, then the heartbeat", got, err)
	}
}

func TestReadLimit(t *testing.T) {
	fits := encode(t, refusedOf(wire.HandshakeMaxFrame))
	over := encode(t, refusedOf(wire.HandshakeMaxFrame+1))
	if got, err := readAll(fits, wire.HandshakeMaxFrame); len(got) != 1 || !errors.Is(err, io.EOF) {
		t.Errorf("frame of exactly the limit: %d messages, %v", len(got), err)
	}
	if _, err := readAll(over, wire.HandshakeMaxFrame); !errors.Is(err, wire.ErrFrameTooLarge) {
		t.Errorf("frame over the limit: %v, want ErrFrameTooLarge", err)
	}
}

// TestReadHugeAnnouncementDoesNotAllocate: the length is checked before
// the body is allocated, so a peer cannot make us allocate what it
// announces (here 4 GiB; an allocation that size would fail the test or
// the process).
func TestReadHugeAnnouncementDoesNotAllocate(t *testing.T) {
	for _, limit := range []uint32{wire.HandshakeMaxFrame, wire.DefaultMaxFrame} {
		in := []byte{0xff, 0xff, 0xff, 0xff, byte(wire.TypeJob), 0x94}
		c := wire.NewConn(newStreamConn(in))
		c.SetMaxFrame(limit)
		before := allocated()
		_, err := c.Read()
		if n := allocated() - before; n > 64<<10 {
			t.Errorf("limit %d: Read allocated %d bytes", limit, n)
		}
		if !errors.Is(err, wire.ErrFrameTooLarge) {
			t.Errorf("limit %d: %v, want ErrFrameTooLarge", limit, err)
		}
	}
}

// TestSetMaxFrameRaisesLimit: a job over the handshake limit is refused on
// both ends until both raise the limit, as they do after the handshake.
func TestSetMaxFrameRaisesLimit(t *testing.T) {
	job := &wire.Job{ID: 1, Key: 1, Args: make([]byte, 2*wire.HandshakeMaxFrame)}
	w := wire.NewConn(newStreamConn(nil))
	if err := w.Write(job); !errors.Is(err, wire.ErrFrameTooLarge) {
		t.Fatalf("write at the handshake limit: %v, want ErrFrameTooLarge", err)
	}
	w.SetMaxFrame(wire.DefaultMaxFrame)
	if err := w.Write(job); err != nil {
		t.Fatalf("write after SetMaxFrame: %v", err)
	}
	in := encode(t, job)
	if _, err := readAll(in, wire.HandshakeMaxFrame); !errors.Is(err, wire.ErrFrameTooLarge) {
		t.Fatalf("read at the handshake limit: %v, want ErrFrameTooLarge", err)
	}
	if got, err := readAll(in, wire.DefaultMaxFrame); len(got) != 1 || !errors.Is(err, io.EOF) {
		t.Fatalf("read after SetMaxFrame: %v, %v", got, err)
	}
	// The full range of a uint32 is a valid limit.
	w.SetMaxFrame(math.MaxUint32)
	if err := w.Write(job); err != nil {
		t.Fatalf("write under the largest limit: %v", err)
	}
}

// TestReadErrors: each way a stream can be wrong yields its documented
// error; the messages before it are read normally.
func TestReadErrors(t *testing.T) {
	hb := encode(t, &wire.Heartbeat{})
	job := encode(t, &wire.Job{ID: 1, Key: 2, Args: []byte("args")})
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"clean EOF", nil, io.EOF},
		{"clean EOF after a frame", hb, io.EOF},
		{"header cut short", []byte{0, 0}, io.ErrUnexpectedEOF},
		{"header without type", []byte{0, 0, 0, 2}, io.ErrUnexpectedEOF},
		{"no body", job[:5], io.ErrUnexpectedEOF},
		{"body cut short", job[:len(job)-1], io.ErrUnexpectedEOF},
		{"zero length", []byte{0, 0, 0, 0, byte(wire.TypeHeartbeat), 0x90}, wire.ErrMalformed},
		{"type 0", frame(0, 0x90), wire.ErrMalformed},
		{"type 6", frame(6, 0x90), wire.ErrMalformed},
		{"type 15", frame(15, 0x90), wire.ErrMalformed},
		{"type 21", frame(21, 0x90), wire.ErrMalformed},
		{"type 255", frame(255, 0x90), wire.ErrMalformed},
		{"unknown type after a frame", append(hb, frame(99, 0x90)...), wire.ErrMalformed},
		{"never-used msgpack code", frame(wire.TypeHeartbeat, 0xc1), wire.ErrMalformed},
		{"empty body", frame(wire.TypeHeartbeat), wire.ErrMalformed},
		{"body cut inside msgpack", frame(wire.TypeGoodbye, 0x91, 0xa5, 'b', 'y'), wire.ErrMalformed},
		{"scalar body", frame(wire.TypeCredits, 0x08), wire.ErrMalformed},
		{"too few fields", frame(wire.TypeJob, 0x92, 0x01, 0x02), wire.ErrMalformed},
		{"too many fields", frame(wire.TypeCredits, 0x92, 0x01, 0x02), wire.ErrMalformed},
		{"heartbeat with a field", frame(wire.TypeHeartbeat, 0x91, 0x01), wire.ErrMalformed},
		{"string for an integer", frame(wire.TypeCredits, 0x91, 0xa1, '8'), wire.ErrMalformed},
		{"float for an integer", frame(wire.TypeCredits, 0x91, 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0), wire.ErrMalformed},
		{"array for bytes", frame(wire.TypeHello, 0x92, wire.Version, 0x91, 0x01), wire.ErrMalformed},
		{"integer for a string", frame(wire.TypeGoodbye, 0x91, 0x07), wire.ErrMalformed},
		{"trailing byte", frame(wire.TypeHeartbeat, 0x90, 0x00), wire.ErrMalformed},
		{"two values", frame(wire.TypeCredits, 0x91, 0x01, 0x91, 0x02), wire.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readAll(tc.in, wire.HandshakeMaxFrame)
			if !errors.Is(err, tc.want) {
				t.Fatalf("% x: got %v after %d messages, want %v", tc.in, err, len(got), tc.want)
			}
		})
	}
}

// TestReadRejectsOtherShapes: a body must be an array of exactly the
// message's fields (SPEC.md). msgpack also decodes a map (keyed by Go
// field names), a nil and an empty array into any struct; accepting those
// would make an empty Result read as "job 0 succeeded with no data".
func TestReadRejectsOtherShapes(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"empty array as Result", frame(wire.TypeResult, 0x90)},
		{"empty array as Job", frame(wire.TypeJob, 0x90)},
		{"nil as Result", frame(wire.TypeResult, 0xc0)},
		{"nil as Credits", frame(wire.TypeCredits, 0xc0)},
		{"nil as Heartbeat", frame(wire.TypeHeartbeat, 0xc0)},
		{"map as Credits", frame(wire.TypeCredits, 0x81, 0xa7, 'C', 'r', 'e', 'd', 'i', 't', 's', 0x05)},
		{"empty map as Result", frame(wire.TypeResult, 0x80)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readAll(tc.in, wire.HandshakeMaxFrame)
			if !errors.Is(err, wire.ErrMalformed) {
				t.Errorf("% x: read %+v, %v; want ErrMalformed", tc.in, got, err)
			}
		})
	}
}

// TestReadDoesNotAllocateAnnouncedLengths: a binary or string inside a
// body announces its own length. A body is at most the frame limit, so a
// value announcing more is malformed, and must not make Read allocate what
// it announces: before the handshake that would let anyone make a
// ppserver allocate up to 4 GiB with a 13-byte frame.
func TestReadDoesNotAllocateAnnouncedLengths(t *testing.T) {
	const announced = 64 << 20 // kept small enough not to hurt if allocated
	l := []byte{announced >> 24, announced >> 16 & 0xff, announced >> 8 & 0xff, announced & 0xff}
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"bin32 share in Hello", frame(wire.TypeHello, append([]byte{0x92, wire.Version, 0xc6}, l...)...)},
		{"bin32 proof in Auth", frame(wire.TypeAuth, append([]byte{0x93, wire.Version, 0xc0, 0xc6}, l...)...)},
		{"bin32 salt in Salt", frame(wire.TypeSalt, append([]byte{0x91, 0xc6}, l...)...)},
		{"str32 reason in Refused", frame(wire.TypeRefused, append([]byte{0x91, 0xdb}, l...)...)},
		{"bin16 in a small frame", frame(wire.TypeHello, 0x92, wire.Version, 0xc5, 0xff, 0xff)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := wire.NewConn(newStreamConn(tc.in))
			before := allocated()
			_, err := c.Read()
			n := allocated() - before
			if !errors.Is(err, wire.ErrMalformed) {
				t.Errorf("got %v, want ErrMalformed", err)
			}
			if n > 32<<10 {
				t.Errorf("a %d-byte frame made Read allocate %d bytes", len(tc.in), n)
			}
		})
	}
}

// A user's silence setting is kept where heartbeats make it sensible.
func TestClampSilence(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   time.Duration
		want time.Duration
	}{
		{"unset", 0, wire.DefaultSilence},
		{"negative", -time.Second, wire.DefaultSilence},
		{"shorter than four heartbeats", time.Nanosecond, wire.MinSilence},
		{"just under the minimum", wire.MinSilence - 1, wire.MinSilence},
		{"the minimum", wire.MinSilence, wire.MinSilence},
		{"in between", 7500 * time.Millisecond, 7500 * time.Millisecond},
		{"the default", wire.DefaultSilence, wire.DefaultSilence},
		{"just over the default", wire.DefaultSilence + 1, wire.DefaultSilence},
		{"legacy pp's hour", time.Hour, wire.DefaultSilence},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := wire.ClampSilence(tc.in); got != tc.want {
				t.Errorf("ClampSilence(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

// TestReadVersionFirst: Hello and Auth begin with the version in every
// version of the protocol, and Read looks at it before their shape, so a
// peer of another version is told which, not "malformed".
func TestReadVersionFirst(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      []byte
		version int64 // the VersionError's; 0: want ErrMalformed
	}{
		{"a version 1 Hello", frame(wire.TypeHello, 0x92, 0x01, 0xc4, 0x01, 0xaa), 1},
		{"a version 1 Auth, in version 1's shape", frame(wire.TypeAuth, 0x93, 0x01, 0xc4, 0x01, 0xaa, 0xc4, 0x00), 1},
		{"a later version's Hello of another shape", frame(wire.TypeHello, 0x94, wire.Version+1, 0xa1, 'x', 0x90, 0xc0), wire.Version + 1},
		{"a version in a uint 16", frame(wire.TypeHello, 0x91, 0xcd, 0x01, 0x00), 256},
		{"a version in an int 64", frame(wire.TypeAuth, 0x91, 0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), -1},
		{"a negative fixint", frame(wire.TypeHello, 0x92, 0xff, 0xc0), -1},
		{"an array 16", frame(wire.TypeHello, 0xdc, 0x00, 0x01, 0x07), 7},
		{"a version over int64", frame(wire.TypeHello, 0x92, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc0), 0},
		{"a string for a version", frame(wire.TypeHello, 0x92, 0xa1, '2', 0xc0), 0},
		{"a version cut short", frame(wire.TypeHello, 0x91, 0xcd, 0x01), 0},
		{"this version, another shape", frame(wire.TypeHello, 0x93, wire.Version, 0xc0, 0xc0), 0},
		{"an empty array", frame(wire.TypeHello, 0x90), 0},
		{"a Job is not versioned", frame(wire.TypeJob, 0x93, 0x07, 0xc0, 0xc0), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readAll(tc.in, wire.HandshakeMaxFrame)
			var ve *wire.VersionError
			switch {
			case tc.version == 0 && !errors.Is(err, wire.ErrMalformed):
				t.Errorf("% x: %v, want ErrMalformed", tc.in, err)
			case tc.version != 0 && (!errors.As(err, &ve) || ve.Version != tc.version || !errors.Is(err, wire.ErrVersion)):
				t.Errorf("% x: %v, want a VersionError of version %d", tc.in, err, tc.version)
			case tc.version != 0 && !strings.Contains(err.Error(), fmt.Sprintf("peer speaks ppgo wire version %d, this is %d", tc.version, wire.Version)):
				t.Errorf("%q does not name both versions", err)
			}
		})
	}
}
