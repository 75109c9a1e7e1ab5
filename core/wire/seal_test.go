package wire_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/ppgo/ppgo/core/wire"
)

var (
	keyAB = bytes.Repeat([]byte{1}, wire.KeySize)
	keyBA = bytes.Repeat([]byte{2}, wire.KeySize)
)

// sealedPair is a connected pair sealed as the handshake leaves it: each
// end sends under its own key and reads under the other's.
func sealedPair(t *testing.T, tr transport) (*wire.Conn, *wire.Conn) {
	t.Helper()
	a, b := tr.Pair(t)
	ca, cb := wire.NewConn(a), wire.NewConn(b)
	seal(t, ca, keyAB, keyBA)
	seal(t, cb, keyBA, keyAB)
	ca.SetMaxFrame(wire.DefaultMaxFrame)
	cb.SetMaxFrame(wire.DefaultMaxFrame)
	return ca, cb
}

func seal(t testing.TB, c *wire.Conn, send, recv []byte) {
	t.Helper()
	if err := c.Seal(send, recv); err != nil {
		t.Fatal(err)
	}
}

func TestSealedRoundTrip(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.Name, func(t *testing.T) {
			a, b := sealedPair(t, tr)
			msgs := []wire.Message{
				&wire.Job{ID: 1, Key: 2, Source: []byte("src"), Args: []byte("args")},
				&wire.Heartbeat{},
				&wire.Job{ID: 2, Key: 2, Args: bytes.Repeat([]byte("x"), 9<<20)}, // over payloadChunk, twice
			}
			if got := exchange(t, a, b, msgs...); !reflect.DeepEqual(got, msgs) {
				t.Errorf("sent %d messages, read back others", len(msgs))
			}
			back := []wire.Message{&wire.Result{ID: 1, Data: []byte("r")}, &wire.Credits{Credits: 3}, &wire.Goodbye{Reason: "bye"}}
			if got := exchange(t, b, a, back...); !reflect.DeepEqual(got, back) {
				t.Errorf("replies %v, want %v", got, back)
			}
		})
	}
}

// sealedFrames returns the bytes a writer sealed with key puts on the wire.
func sealedFrames(t testing.TB, key []byte, msgs ...wire.Message) []byte {
	t.Helper()
	sc := newStreamConn(nil)
	c := wire.NewConn(sc)
	c.SetMaxFrame(wire.DefaultMaxFrame)
	seal(t, c, key, key)
	for _, m := range msgs {
		if err := c.Write(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	return sc.out.Bytes()
}

// readSealed reads every frame of in on a connection sealed with key.
func readSealed(in []byte, key []byte) ([]wire.Message, error) {
	c := wire.NewConn(newStreamConn(in))
	c.SetMaxFrame(wire.DefaultMaxFrame)
	if err := c.Seal(key, key); err != nil {
		return nil, err
	}
	var got []wire.Message
	for {
		m, err := c.Read()
		if err != nil {
			return got, err
		}
		got = append(got, m)
	}
}

// TestSealedFrameLayout builds sealed frames as SPEC.md section 5.2 says,
// with the AEAD alone, and compares them with what Write sends: length,
// then ChaCha20-Poly1305 of type and body under nonce 0⁴ || seq, with the
// length as associated data.
func TestSealedFrameLayout(t *testing.T) {
	msgs := []wire.Message{&wire.Heartbeat{}, &wire.Job{ID: 1, Key: 2, Args: []byte("PLAINTEXT-MARKER-1234")}, &wire.Heartbeat{}}
	aead, err := chacha20poly1305.New(keyAB)
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	for i, m := range msgs {
		plain := encode(t, m)[4:] // a frame in clear is its length, then type and body
		var hdr [4]byte
		binary.BigEndian.PutUint32(hdr[:], uint32(len(plain)+chacha20poly1305.Overhead))
		var nonce [chacha20poly1305.NonceSize]byte
		binary.BigEndian.PutUint64(nonce[4:], uint64(i))
		want = append(want, hdr[:]...)
		want = aead.Seal(want, nonce[:], plain, hdr[:])
	}
	got := sealedFrames(t, keyAB, msgs...)
	if !bytes.Equal(got, want) {
		t.Fatalf("sealed frames\n got % x\nwant % x", got, want)
	}
	if bytes.Contains(got, []byte("PLAINTEXT-MARKER")) {
		t.Fatal("a sealed frame carries its argument in clear")
	}
	// The two heartbeats, equal in clear, differ on the wire.
	one, three := got[:4+1+1+wire.TagSize], got[len(got)-(4+1+1+wire.TagSize):]
	if bytes.Equal(one, three) {
		t.Fatal("two equal messages sealed alike: the nonce did not advance")
	}
}

// specSeal seals plain (a type and a body, or anything) as frame seq of a
// direction under key, as SPEC.md section 5.2 says.
func specSeal(t testing.TB, key []byte, seq uint64, plain []byte) []byte {
	t.Helper()
	aead, err := chacha20poly1305.New(key)
	if err != nil {
		t.Fatal(err)
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(plain)+chacha20poly1305.Overhead))
	var nonce [chacha20poly1305.NonceSize]byte
	binary.BigEndian.PutUint64(nonce[4:], seq)
	return aead.Seal(hdr[:], nonce[:], plain, hdr[:])
}

// TestSealedContentChecked: a frame that opens is still checked like one
// in clear: its type must be known and its body well formed.
func TestSealedContentChecked(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		plain      []byte
	}{
		{"an unknown type", "unknown message type 99", []byte{99, 0x90}},
		{"a handshake message", "", encode(t, &wire.Refused{Reason: "late"})[4:]},
		{"a malformed body", "Job body", []byte{byte(wire.TypeJob), 0xc1}},
		{"no type", "too short", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readSealed(specSeal(t, keyAB, 0, tc.plain), keyAB)
			if tc.want == "" { // a frame is a frame: what may come when is the caller's to say
				if err == nil || !errors.Is(err, io.EOF) || len(got) != 1 {
					t.Fatalf("read %v, %v; want the message, then EOF", got, err)
				}
				return
			}
			if len(got) != 0 || !errors.Is(err, wire.ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("read %v, %v; want ErrMalformed saying %q", got, err, tc.want)
			}
		})
	}
}

func TestSealedConnRejects(t *testing.T) {
	job := &wire.Job{ID: 7, Key: 1, Args: []byte("payload")}
	one := sealedFrames(t, keyAB, job)
	two := sealedFrames(t, keyAB, job, &wire.Heartbeat{})
	first := len(one)

	flip := func(in []byte, at int) []byte {
		out := bytes.Clone(in)
		out[at] ^= 1
		return out
	}
	shorter := bytes.Clone(one) // the length says one byte less; the frame ends early
	binary.BigEndian.PutUint32(shorter, binary.BigEndian.Uint32(shorter)-1)

	cases := map[string]struct {
		in   []byte
		key  []byte
		good int // frames that must be accepted before the failure
		want error
	}{
		"an altered body":            {flip(one, 4+3), keyAB, 0, wire.ErrMalformed},
		"an altered type":            {flip(one, 4), keyAB, 0, wire.ErrMalformed},
		"an altered tag":             {flip(one, len(one)-1), keyAB, 0, wire.ErrMalformed},
		"an altered length":          {shorter, keyAB, 0, wire.ErrMalformed},
		"the wrong key":              {one, keyBA, 0, wire.ErrMalformed},
		"a replayed frame":           {append(bytes.Clone(one), one...), keyAB, 1, wire.ErrMalformed},
		"frames out of order":        {append(bytes.Clone(two[first:]), two[:first]...), keyAB, 0, wire.ErrMalformed},
		"a dropped frame":            {two[first:], keyAB, 0, wire.ErrMalformed},
		"a frame in clear":           {encode(t, job), keyAB, 0, wire.ErrMalformed},
		"a frame shorter than a tag": {frame(wire.TypeHeartbeat, 0x90), keyAB, 0, wire.ErrMalformed},
		"a frame cut short":          {two[:len(two)-1], keyAB, 1, io.ErrUnexpectedEOF},
		"a length cut short":         {two[:first+2], keyAB, 1, io.ErrUnexpectedEOF},
		"a length over the limit":    {[]byte{0x7f, 0xff, 0xff, 0xff}, keyAB, 0, wire.ErrFrameTooLarge},
		"a frame injected before":    {append(sealedFrames(t, keyBA, job), one...), keyAB, 0, wire.ErrMalformed},
		"an empty frame":             {[]byte{0, 0, 0, 0}, keyAB, 0, wire.ErrMalformed},
		"a replayed second frame":    {append(bytes.Clone(two), two[first:]...), keyAB, 2, wire.ErrMalformed},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := readSealed(tc.in, tc.key)
			if len(got) != tc.good || !errors.Is(err, tc.want) {
				t.Fatalf("read %d messages then %v; want %d then %v", len(got), err, tc.good, tc.want)
			}
		})
	}
	if got, err := readSealed(two, keyAB); len(got) != 2 || !errors.Is(err, io.EOF) {
		t.Fatalf("two good frames: %d messages, then %v (want io.EOF)", len(got), err)
	}
}

// TestSealedWriteLimit: the limit counts the tag, and a refused frame
// takes no sequence number: the next frame still opens.
func TestSealedWriteLimit(t *testing.T) {
	sc := newStreamConn(nil)
	c := wire.NewConn(sc)
	seal(t, c, keyAB, keyAB)
	fits := refusedOf(wire.HandshakeMaxFrame - wire.TagSize)
	over := refusedOf(wire.HandshakeMaxFrame - wire.TagSize + 1)
	if err := c.Write(over); !errors.Is(err, wire.ErrFrameTooLarge) {
		t.Fatalf("frame over the limit with its tag: %v, want ErrFrameTooLarge", err)
	}
	if err := c.Write(fits); err != nil {
		t.Fatalf("frame of the limit with its tag: %v", err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := sc.out.Len(); n != 4+wire.HandshakeMaxFrame {
		t.Fatalf("frame of the limit took %d bytes, want %d", n, 4+wire.HandshakeMaxFrame)
	}
	got, err := readSealed(sc.out.Bytes(), keyAB)
	if len(got) != 1 || !errors.Is(err, io.EOF) {
		t.Fatalf("read %v, %v; want the one frame, then EOF", got, err)
	}
}

func TestSealRefusesBadKeys(t *testing.T) {
	c := wire.NewConn(newStreamConn(nil))
	for _, keys := range [][2][]byte{{keyAB[:16], keyBA}, {keyAB, nil}, {append(keyAB, 0), keyBA}} {
		if err := c.Seal(keys[0], keys[1]); err == nil {
			t.Errorf("Seal accepted keys of %d and %d bytes", len(keys[0]), len(keys[1]))
		}
	}
}
