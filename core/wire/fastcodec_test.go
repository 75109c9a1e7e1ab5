package wire

import (
	"bytes"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// fastSamples are Jobs and Results at every boundary of the encoding:
// nil and empty slices, each width of bin and str, the extreme integers.
func fastSamples() []Message {
	var out []Message
	sizes := []int{0, 1, 31, 32, 255, 256, 65535, 65536}
	ints := []uint64{0, 1, 127, 128, 1 << 32, math.MaxUint64}
	for i, n := range sizes {
		v := bytes.Repeat([]byte{byte(i)}, n)
		id := ints[i%len(ints)]
		out = append(out,
			&Job{ID: id, Key: ^id, Source: v, Args: nil, TimeoutNS: int64(id)},
			&Job{ID: id, Args: v, TimeoutNS: math.MinInt64, Segment: v},
			&Result{ID: id, Status: StatusDone, Data: v, ElapsedNS: -int64(i), Segment: v},
			&Result{ID: id, Status: Status(i % 4), Reason: strings.Repeat("r", n)},
		)
	}
	return append(out, &Job{Source: []byte{}, Args: []byte{}}, &Result{Status: mpFixIntMax, Data: []byte{}})
}

// The hand-written codec writes what the msgpack library writes, and
// reads it back as the library does.
func TestFastCodecIsTheLibrarys(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	msgs := fastSamples()
	for range 200 {
		msgs = append(msgs, &Job{ID: rng.Uint64(), Key: rng.Uint64(), Args: []byte{byte(rng.IntN(256))}, TimeoutNS: rng.Int64()},
			&Result{ID: rng.Uint64(), Status: Status(rng.IntN(4)), Data: make([]byte, rng.IntN(300)), ElapsedNS: rng.Int64()})
	}
	for _, m := range msgs {
		want, err := msgpack.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := appendFast(nil, m)
		if !ok || !bytes.Equal(got, want) {
			t.Fatalf("%T: fast encoding % .40x (%v), the library's % .40x", m, got, ok, want)
		}
		back := reflect.New(reflect.TypeOf(m).Elem()).Interface().(Message)
		if !decodeFast(want, back) || !reflect.DeepEqual(back, m) {
			t.Fatalf("%T: the library's encoding decodes as %+.60v, want %+.60v", m, back, m)
		}
	}
	// A Status the fast codec does not write is left to the library.
	if _, ok := appendFast(nil, &Result{Status: -1}); ok {
		t.Fatal("a negative Status was encoded by hand")
	}
}

// FuzzFastDecode feeds arbitrary bodies to the hand-written decoder: what
// it accepts, the library must decode to the same message, and what it
// rejects it must leave untouched.
func FuzzFastDecode(f *testing.F) {
	for _, m := range fastSamples() {
		b, _ := msgpack.Marshal(m)
		f.Add(b)
	}
	f.Add([]byte{0x96, 0x05, 0xcc, 0xff, 0xc0, 0xc4, 0x00, 0xd0, 0xff, 0xc0}) // compact ints: the library's
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, m := range []Message{&Job{}, &Result{}} {
			if !decodeFast(body, m) {
				if !reflect.ValueOf(m).Elem().IsZero() {
					t.Fatalf("rejected % x but changed %+v", body, m)
				}
				continue
			}
			lib := reflect.New(reflect.TypeOf(m).Elem()).Interface().(Message)
			if err := msgpack.Unmarshal(body, lib); err != nil {
				t.Fatalf("decoded % x as %+v; the library refuses it: %v", body, m, err)
			}
			if !reflect.DeepEqual(lib, m) {
				t.Fatalf("decoded % x as %+v; the library as %+v", body, m, lib)
			}
		}
	})
}
