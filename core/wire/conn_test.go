package wire_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/ppgo/ppgo/core/wire"
)

func seq(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// samples holds every message type, with edge values.
var samples = []wire.Message{
	&wire.Hello{Version: wire.Version, Share: seq(wire.ShareSize)},
	&wire.Hello{Version: wire.Version},
	&wire.Salt{Salt: seq(wire.SaltSize)},
	&wire.Salt{Salt: []byte{}},
	&wire.Auth{Version: wire.Version, Share: seq(wire.ShareSize), Proof: bytes.Repeat([]byte{0xff}, 32)},
	&wire.Auth{Version: wire.Version, Share: []byte{}, Proof: []byte{}},
	&wire.Welcome{Proof: seq(32), Workers: 8, Credits: 16},
	&wire.Welcome{Workers: math.MaxInt, Credits: math.MinInt},
	&wire.Refused{Reason: "wrong secret"},
	&wire.Refused{Reason: "ünïcødé ✓ \x00 tail"},
	&wire.Refused{},
	&wire.Job{ID: 1, Key: 7, Source: []byte("def f(x):\n    return x\n"), Args: []byte{0x80, 0x04, 0x95}},
	&wire.Job{ID: math.MaxUint64, Key: math.MaxUint64, Args: []byte{}, TimeoutNS: math.MaxInt64},
	&wire.Job{ID: 2, Key: 7, Args: []byte{0x80}, TimeoutNS: 2e9},
	&wire.Job{ID: 3, Key: 7, Args: []byte{0x80}, Segment: seq(300)},
	&wire.Result{ID: 1, Data: seq(300), ElapsedNS: 12345},
	&wire.Result{ID: 4, Data: seq(3), Segment: seq(200)},
	&wire.Result{ID: math.MaxUint64, Status: wire.StatusLost, ElapsedNS: math.MinInt64, Reason: "worker 3 died"},
	&wire.Result{ID: 2, Status: wire.StatusTimedOut, ElapsedNS: 2e9, Reason: "ran longer than its 2s timeout; its worker (process 7) was killed"},
	&wire.Result{ID: 3, Status: wire.StatusCancelled},
	&wire.Cancel{ID: 1},
	&wire.Cancel{ID: math.MaxUint64},
	&wire.Credits{Credits: 0},
	&wire.Credits{Credits: 1 << 20},
	&wire.Heartbeat{},
	&wire.Goodbye{Reason: "draining"},
	&wire.Goodbye{},
}

func name(m wire.Message) string {
	return fmt.Sprintf("%v%+v", m.MessageType(), m)
}

// TestSamplesCoverEveryType keeps samples complete when a type is added.
func TestSamplesCoverEveryType(t *testing.T) {
	have := map[wire.Type]bool{}
	for _, m := range samples {
		have[m.MessageType()] = true
	}
	for i := range 256 {
		typ := wire.Type(i)
		if known := !strings.HasPrefix(typ.String(), "Type("); known && !have[typ] {
			t.Errorf("no sample of %v", typ)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.Name, func(t *testing.T) {
			a, b := tr.Pair(t)
			w, r := wire.NewConn(a), wire.NewConn(b)
			for _, m := range samples {
				t.Run(name(m), func(t *testing.T) {
					got := exchange(t, w, r, m)
					if !reflect.DeepEqual(got[0], m) {
						t.Errorf("got %#v, want %#v", got[0], m)
					}
				})
			}
			// And all of them in one flush.
			got := exchange(t, w, r, samples...)
			if !reflect.DeepEqual(got, samples) {
				t.Errorf("batch: got %v, want %v", got, samples)
			}
		})
	}
}

// TestFullDuplex reads and writes one Conn from two goroutines at once, as
// the node and the server do; run it with -race.
func TestFullDuplex(t *testing.T) {
	const n = 200
	for _, tr := range transports {
		t.Run(tr.Name, func(t *testing.T) {
			a, b := tr.Pair(t)
			client, server := wire.NewConn(a), wire.NewConn(b)
			// The server echoes each job as a result.
			echoed := make(chan error, 1)
			go func() {
				for range n {
					m, err := server.Read()
					if err != nil {
						echoed <- err
						return
					}
					j := m.(*wire.Job)
					if err := server.Write(&wire.Result{ID: j.ID, Data: j.Args}); err != nil {
						echoed <- err
						return
					}
					if err := server.Flush(); err != nil {
						echoed <- err
						return
					}
				}
				echoed <- nil
			}()
			// 1 KiB each, so the writer's buffer fills and goes out while
			// results come back.
			sent := make([]wire.Message, n)
			for i := range sent {
				sent[i] = &wire.Job{ID: uint64(i), Key: 1, Args: bytes.Repeat([]byte{byte(i)}, 1<<10)}
			}
			got := exchange(t, client, client, sent...)
			for i, m := range got {
				r, ok := m.(*wire.Result)
				if !ok || r.ID != uint64(i) || !bytes.Equal(r.Data, sent[i].(*wire.Job).Args) {
					t.Fatalf("message %d: %v", i, m)
				}
			}
			if err := <-echoed; err != nil {
				t.Fatal(err)
			}
		})
	}
}

func jobs(n int) []wire.Message {
	msgs := make([]wire.Message, n)
	for i := range msgs {
		msgs[i] = &wire.Job{ID: uint64(i), Key: 1, Args: []byte(fmt.Sprint(i))}
	}
	return msgs
}

// TestSpecExamples pins the exact bytes of the examples in SPEC.md.
func TestSpecExamples(t *testing.T) {
	for _, tc := range []struct {
		m   wire.Message
		hex string
	}{
		{&wire.Heartbeat{}, "00000002 13 90"},
		{&wire.Credits{Credits: 8}, "00000003 12 91 08"},
		{&wire.Goodbye{Reason: "bye"}, "00000006 14 91 a3627965"},
		{&wire.Refused{Reason: "wrong secret"}, "0000000f 04 91 ac77726f6e6720736563726574"},
		{&wire.Hello{Version: 3, Share: seq(32)}, "00000025 01 92 03 c420" +
			"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"},
		{&wire.Salt{Salt: seq(16)}, "00000014 05 91 c410 000102030405060708090a0b0c0d0e0f"},
		{&wire.Auth{Version: 3, Share: seq(32), Proof: seq(32)}, "00000047 02 93 03 c420" +
			"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f c420" +
			"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"},
		{&wire.Job{ID: 1, Key: 2, Source: []byte("ab"), TimeoutNS: 2e9}, "00000023 10 96 " +
			"cf0000000000000001 cf0000000000000002 c4026162 c0 d30000000077359400 c0"},
		{&wire.Result{ID: 1, Data: []byte{0x80, 0x04}, ElapsedNS: 1000}, "0000001b 11 96 " +
			"cf0000000000000001 00 c4028004 d300000000000003e8 a0 c0"},
		{&wire.Result{ID: 1, Status: wire.StatusTimedOut, ElapsedNS: 2e9, Reason: "2s"}, "0000001a 11 96 " +
			"cf0000000000000001 02 c0 d30000000077359400 a23273 c0"},
		{&wire.Cancel{ID: 1}, "0000000b 15 91 cf0000000000000001"},
		{&wire.Welcome{Proof: seq(32), Workers: 4, Credits: 8}, "00000026 03 93 c420" +
			"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f 04 08"},
	} {
		t.Run(tc.m.MessageType().String(), func(t *testing.T) {
			want, err := hex.DecodeString(strings.ReplaceAll(tc.hex, " ", ""))
			if err != nil {
				t.Fatal(err)
			}
			if got := encode(t, tc.m); !bytes.Equal(got, want) {
				t.Errorf("encoded\n got % x\nwant % x", got, want)
			}
			got, err := readAll(want, wire.HandshakeMaxFrame)
			if !errors.Is(err, io.EOF) || len(got) != 1 || !reflect.DeepEqual(got[0], tc.m) {
				t.Errorf("decoded %#v, %v; want %#v, EOF", got, err, tc.m)
			}
		})
	}
}

// TestReadAnyIntegerEncoding: a peer may encode an integer in any msgpack
// form that holds it, not only the fixed 64-bit forms Go writes.
func TestReadAnyIntegerEncoding(t *testing.T) {
	for _, tc := range []struct {
		body []byte
		want wire.Message
	}{
		{[]byte{0x96, 0x05, 0xcc, 0xff, 0xc0, 0xc4, 0x00, 0x00, 0xc0}, &wire.Job{ID: 5, Key: 255, Args: []byte{}}},
		{[]byte{0x96, 0x05, 0x01, 0xc0, 0xc0, 0xce, 0x77, 0x35, 0x94, 0x00, 0xc0}, &wire.Job{ID: 5, Key: 1, TimeoutNS: 2e9}},
		{[]byte{0x96, 0xce, 0, 1, 0, 0, 0x00, 0xc0, 0xff, 0xa0, 0xc0}, &wire.Result{ID: 1 << 16, ElapsedNS: -1}},
		{[]byte{0x96, 0xcd, 1, 0, 0xd0, 0x01, 0xc0, 0xd0, 0x80, 0xa1, 'x', 0xc4, 0x01, 'y'}, &wire.Result{ID: 256, Status: wire.StatusLost, ElapsedNS: -128, Reason: "x", Segment: []byte("y")}},
		{[]byte{0x91, 0x07}, &wire.Cancel{ID: 7}},
		{[]byte{0x91, 0xd2, 0x7f, 0xff, 0xff, 0xff}, &wire.Credits{Credits: math.MaxInt32}},
	} {
		in := frame(tc.want.MessageType(), tc.body...)
		got, err := readAll(in, wire.HandshakeMaxFrame)
		if !errors.Is(err, io.EOF) || len(got) != 1 || !reflect.DeepEqual(got[0], tc.want) {
			t.Errorf("% x: got %#v, %v; want %#v", in, got, err, tc.want)
		}
	}
}

// TestFlushSendsBatch: writes stay in the buffer until Flush, which sends
// them all in one write.
func TestFlushSendsBatch(t *testing.T) {
	s := newStreamConn(nil)
	c := wire.NewConn(s)
	if c.Buffered() {
		t.Fatal("a new Conn has buffered data")
	}
	msgs := jobs(5)
	for _, m := range msgs {
		if err := c.Write(m); err != nil {
			t.Fatal(err)
		}
	}
	if !c.Buffered() || s.writes != 0 || s.out.Len() != 0 {
		t.Fatalf("before Flush: buffered %v, %d writes of %d bytes", c.Buffered(), s.writes, s.out.Len())
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if c.Buffered() || s.writes != 1 {
		t.Fatalf("after Flush: buffered %v, %d writes", c.Buffered(), s.writes)
	}
	got, err := readAll(s.out.Bytes(), wire.HandshakeMaxFrame)
	if !errors.Is(err, io.EOF) || !reflect.DeepEqual(got, msgs) {
		t.Fatalf("sent %v, %v; want %v, EOF", got, err, msgs)
	}
}

func TestLargeJob(t *testing.T) {
	big := &wire.Job{ID: 9, Key: 3, Source: seq(1 << 10), Args: bytes.Repeat([]byte("pickled!"), 1<<20)} // 8 MiB
	for _, tr := range transports {
		t.Run(tr.Name, func(t *testing.T) {
			a, b := tr.Pair(t)
			w, r := wire.NewConn(a), wire.NewConn(b)
			w.SetMaxFrame(wire.DefaultMaxFrame)
			r.SetMaxFrame(wire.DefaultMaxFrame)
			got := exchange(t, w, r, big, &wire.Heartbeat{})
			if !reflect.DeepEqual(got[0], big) {
				j := got[0].(*wire.Job)
				t.Fatalf("8 MiB job: got %d+%d bytes", len(j.Source), len(j.Args))
			}
		})
	}
}

func TestTypeString(t *testing.T) {
	for typ, want := range map[wire.Type]string{
		wire.TypeHello: "Hello", wire.TypeSalt: "Salt", wire.TypeJob: "Job", wire.TypeGoodbye: "Goodbye",
		0: "Type(0)", 6: "Type(6)", 255: "Type(255)",
	} {
		if got := typ.String(); got != want {
			t.Errorf("Type(%d).String() = %q, want %q", uint8(typ), got, want)
		}
	}
}
