package wire_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ppgo/ppgo/core/wire"
)

var (
	keyAB = bytes.Repeat([]byte{1}, 32)
	keyBA = bytes.Repeat([]byte{2}, 32)
)

func sealedPair(t *testing.T) (*wire.Conn, *wire.Conn) {
	t.Helper()
	a, b := pipePair(t)
	ca, cb := wire.NewConn(a), wire.NewConn(b)
	ca.Seal(keyAB, keyBA)
	cb.Seal(keyBA, keyAB)
	ca.SetMaxFrame(wire.DefaultMaxFrame)
	cb.SetMaxFrame(wire.DefaultMaxFrame)
	return ca, cb
}

func TestSealedRoundTrip(t *testing.T) {
	a, b := sealedPair(t)
	msgs := []wire.Message{
		&wire.Job{ID: 1, Key: 2, Source: []byte("src"), Args: []byte("args")},
		&wire.Heartbeat{},
		&wire.Job{ID: 2, Key: 2, Args: bytes.Repeat([]byte("x"), 100000)},
	}
	got := exchange(t, a, b, msgs...)
	if j := got[2].(*wire.Job); j.ID != 2 || len(j.Args) != 100000 {
		t.Errorf("third message %+v", j)
	}
	back := exchange(t, b, a, &wire.Result{ID: 1, Data: []byte("r")})
	if r := back[0].(*wire.Result); r.ID != 1 || string(r.Data) != "r" {
		t.Errorf("reply %+v", r)
	}
}

// sealedFrames returns the bytes a sealed writer puts on the wire.
func sealedFrames(t *testing.T, key []byte, msgs ...wire.Message) []byte {
	t.Helper()
	sc := newStreamConn(nil)
	c := wire.NewConn(sc)
	c.Seal(key, key)
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
	c.Seal(key, key)
	var got []wire.Message
	for {
		m, err := c.Read()
		if err != nil {
			return got, err
		}
		got = append(got, m)
	}
}

func TestSealedConnRejects(t *testing.T) {
	job := &wire.Job{ID: 7, Key: 1, Args: []byte("payload")}
	one := sealedFrames(t, keyAB, job)
	two := sealedFrames(t, keyAB, job, job)

	tampered := bytes.Clone(one)
	tampered[len(tampered)-wire.TagSize-1] ^= 1 // last byte of the args

	unsealed := encode(t, job)

	cases := map[string]struct {
		in   []byte
		key  []byte
		good int // frames that must be accepted before the failure
	}{
		"an altered body":            {tampered, keyAB, 0},
		"the wrong key":              {one, keyBA, 0},
		"a replayed frame":           {append(bytes.Clone(one), one...), keyAB, 1},
		"frames out of order":        {append(bytes.Clone(two[len(one):]), two[:len(one)]...), keyAB, 0},
		"a frame without a MAC":      {unsealed, keyAB, 0},
		"a frame shorter than a MAC": {frame(wire.TypeHeartbeat, 0x90), keyAB, 0},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := readSealed(tc.in, tc.key)
			if len(got) != tc.good || !errors.Is(err, wire.ErrMalformed) {
				t.Fatalf("read %d messages then %v; want %d then ErrMalformed", len(got), err, tc.good)
			}
		})
	}
	if got, err := readSealed(two, keyAB); len(got) != 2 || err == nil || errors.Is(err, wire.ErrMalformed) {
		t.Fatalf("two good frames: %d messages, then %v (want io.EOF)", len(got), err)
	}
}
