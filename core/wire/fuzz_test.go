package wire_test

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/ppgo/ppgo/core/wire"
)

// FuzzRead feeds arbitrary bytes to Conn.Read under the handshake limit,
// which is what an unauthenticated peer reaches. Read must not panic, must
// fail only with the documented errors, must not allocate much more than
// the input (a peer's announced lengths are not a licence to allocate),
// and every message it decodes must re-encode to a stream that decodes to
// the same message, and re-encode to the same bytes again.
func FuzzRead(f *testing.F) {
	for _, m := range samples {
		f.Add(encode(f, m))
	}
	f.Add(encode(f, samples...))
	f.Add(frame(wire.TypeJob, 0x96, 0x05, 0xcc, 0xff, 0xc0, 0xc4, 0x00, 0xd0, 0xff, 0xc0)) // timeout -1: decodes; a server refuses it
	f.Add(frame(wire.TypeResult, 0x96, 0x01, 0x7f, 0xc0, 0x00, 0xa0, 0xc0))                // status 127: decodes; a client refuses it
	f.Add(frame(wire.TypeCancel, 0x91, 0xcf, 0, 0, 0, 0, 0, 0, 0, 0x01))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, byte(wire.TypeJob)})
	f.Add([]byte{0, 0, 0, 0, 0})
	f.Add(frame(wire.TypeHello, 0x92, 0x02, 0xc5, 0x10, 0x00))
	f.Add(frame(wire.TypeHello, 0x92, 0x01, 0xc4, 0x01, 0x00))          // version 1
	f.Add(frame(wire.TypeAuth, 0x94, wire.Version+1, 0xc0, 0xc0, 0xc0)) // a later version, another shape
	f.Fuzz(func(t *testing.T, in []byte) {
		c := wire.NewConn(newStreamConn(in))
		for {
			before := allocated()
			m, err := c.Read()
			if n := allocated() - before; n > 512<<10 {
				t.Fatalf("Read of a %d-byte input allocated %d bytes", len(in), n)
			}
			if err != nil {
				if !documented(err) {
					t.Fatalf("undocumented error %v", err)
				}
				return
			}
			once := encode(t, m)
			back, err := readAll(once, wire.DefaultMaxFrame)
			if !errors.Is(err, io.EOF) || len(back) != 1 {
				t.Fatalf("%+v re-encoded as % x, which reads as %+v, %v", m, once, back, err)
			}
			if !reflect.DeepEqual(back[0], m) {
				t.Fatalf("%+v re-encoded reads as %+v", m, back[0])
			}
			if twice := encode(t, back[0]); !bytes.Equal(twice, once) {
				t.Fatalf("%+v encodes as % x, then as % x", m, once, twice)
			}
		}
	})
}

// documented reports whether err is one Read says it returns: the input
// ended, or a frame too large, malformed or of another version.
func documented(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, wire.ErrMalformed) || errors.Is(err, wire.ErrFrameTooLarge) ||
		errors.Is(err, wire.ErrVersion)
}

// FuzzReadSealed feeds arbitrary bytes to a sealed Conn: what a peer, or
// someone on the path, can put in front of it after the handshake. Read
// must not panic, must fail only with the documented errors, must not
// allocate much more than the input (whatever lengths it announces: a
// sealed frame is authenticated only once whole), and must accept only what the
// sealing key sealed: whatever it returns, re-sealed under the same
// sequence numbers, gives back the input's bytes.
func FuzzReadSealed(f *testing.F) {
	const limit = 16 << 20 // over the 4 MiB Read allocates before bytes arrive
	for _, m := range samples {
		f.Add(sealedFrames(f, keyAB, m))
	}
	f.Add(sealedFrames(f, keyAB, samples...))
	f.Add(sealedFrames(f, keyBA, &wire.Heartbeat{}))
	f.Add(encode(f, &wire.Heartbeat{}))
	f.Add([]byte{0, 0, 0, 0x11})
	f.Add([]byte{0, 0x10, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		c := wire.NewConn(newStreamConn(in))
		c.SetMaxFrame(limit)
		seal(t, c, keyAB, keyAB)
		var got []wire.Message
		for {
			before := allocated()
			m, err := c.Read()
			if n := allocated() - before; n > 2*uint64(len(in))+(4<<20)+(64<<10) {
				t.Fatalf("Read of a %d-byte input allocated %d bytes", len(in), n)
			}
			if err != nil {
				// A sealed Hello or Auth of another version is a
				// VersionError too.
				if !documented(err) {
					t.Fatalf("undocumented error %v", err)
				}
				break
			}
			got = append(got, m)
		}
		if len(got) == 0 {
			return
		}
		again := sealedFrames(t, keyAB, got...)
		if !bytes.HasPrefix(in, again) {
			t.Fatalf("read %v from % x; those re-seal as % x", got, in, again)
		}
	})
}
