package wire

import (
	"errors"
	"io"
	"net"
	"reflect"
	"testing"
)

// TestWriteReleasesLargeBuffer: Write keeps its encoding buffer between
// messages but must not keep one large message's worth for the
// connection's life, even when it refuses that message: core/remote goes on
// using a connection after ErrFrameTooLarge.
func TestWriteReleasesLargeBuffer(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go io.Copy(io.Discard, b)
	c := NewConn(a)
	c.SetMaxFrame(1 << 20)
	for _, tc := range []struct {
		name string
		args int
		err  error
	}{
		{"sent", 512 << 10, nil},
		{"refused", 2 << 20, ErrFrameTooLarge},
	} {
		err := c.Write(&Job{ID: 1, Key: 1, Args: make([]byte, tc.args)})
		if !errors.Is(err, tc.err) {
			t.Fatalf("%s: Write: %v, want %v", tc.name, err, tc.err)
		}
		if n := c.body.Cap(); n > 4*ioBufferSize {
			t.Errorf("%s: a %d-byte message left a %d-byte encoding buffer", tc.name, tc.args, n)
		}
	}
}

// TestFieldCount keeps the table Read checks bodies against in step with
// the message structs, whose exported fields are what goes on the wire.
func TestFieldCount(t *testing.T) {
	for i := range 256 {
		m, err := newMessage(Type(i))
		if err != nil {
			if _, ok := fieldCount[Type(i)]; ok {
				t.Errorf("fieldCount has unknown type %d", i)
			}
			continue
		}
		want := 0
		for f := range reflect.TypeOf(m).Elem().Fields() {
			if f.IsExported() {
				want++
			}
		}
		if got, ok := fieldCount[Type(i)]; !ok || got != want {
			t.Errorf("fieldCount[%v] = %d, %v; the struct has %d fields", Type(i), got, ok, want)
		}
	}
}
