package wire

import (
	"encoding/binary"
	"math"
)

// Job and Result are most of the frames a busy connection carries, one
// each way per job. They are encoded and decoded here by hand, in exactly
// the bytes the msgpack library writes for them (an array of 6; uint64
// and int64 in 9 bytes; []byte as nil or bin; Status as a positive
// fixint; Reason as str), which costs a fraction of the library's
// reflection. Anything else, or any other encoding a peer may choose
// (every valid msgpack is accepted), goes through the library.

// msgpack format bytes the hand-written codec writes and reads.
const (
	mpArray6 = 0x96
	mpNil    = 0xc0
	mpBin8   = 0xc4
	mpBin16  = 0xc5
	mpBin32  = 0xc6
	mpUint64 = 0xcf
	mpInt64  = 0xd3
	mpStr8   = 0xd9
	mpStr16  = 0xda
	mpStr32  = 0xdb
	mpFixStr = 0xa0 // | length, under 32
	// mpFixIntMax is the largest positive fixint: a Status above it is
	// left to the library.
	mpFixIntMax = 0x7f
)

// appendFast appends m's body in the library's encoding and reports
// whether it could; false leaves b as it was.
func appendFast(b []byte, m Message) ([]byte, bool) {
	switch m := m.(type) {
	case *Job:
		b = append(b, mpArray6)
		b = appendUint64(b, m.ID)
		b = appendUint64(b, m.Key)
		b = appendBin(b, m.Source)
		b = appendBin(b, m.Args)
		b = appendInt64(b, m.TimeoutNS)
		return appendBin(b, m.Segment), true
	case *Result:
		if m.Status < 0 || m.Status > mpFixIntMax {
			return b, false
		}
		b = append(b, mpArray6)
		b = appendUint64(b, m.ID)
		b = append(b, byte(m.Status))
		b = appendBin(b, m.Data)
		b = appendInt64(b, m.ElapsedNS)
		b = appendStr(b, m.Reason)
		return appendBin(b, m.Segment), true
	}
	return b, false
}

func appendUint64(b []byte, v uint64) []byte {
	return binary.BigEndian.AppendUint64(append(b, mpUint64), v)
}

func appendInt64(b []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(append(b, mpInt64), uint64(v))
}

func appendBin(b, v []byte) []byte {
	if v == nil {
		return append(b, mpNil)
	}
	return append(appendLength(b, len(v), mpBin8, mpBin16, mpBin32), v...)
}

func appendStr(b []byte, s string) []byte {
	if n := len(s); n < 32 {
		return append(append(b, mpFixStr|byte(n)), s...)
	}
	return append(appendLength(b, len(s), mpStr8, mpStr16, mpStr32), s...)
}

// appendLength appends the marker and length of a bin or str of n bytes,
// in the narrowest of the three widths that holds n, as the library does.
func appendLength(b []byte, n int, w8, w16, w32 byte) []byte {
	switch {
	case n <= math.MaxUint8:
		return append(b, w8, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, w16), uint16(n))
	default:
		return binary.BigEndian.AppendUint32(append(b, w32), uint32(n))
	}
}

// decodeFast fills m from body if body is a Job or Result in exactly the
// encoding appendFast writes, and reports whether it did; false leaves m
// untouched, for the library to decode. Byte slices are copies: m does
// not keep body.
func decodeFast(body []byte, m Message) bool {
	d := fastDecoder{b: body}
	if !d.byte(mpArray6) {
		return false
	}
	switch m := m.(type) {
	case *Job:
		j := Job{ID: d.uint64(), Key: d.uint64(), Source: d.bin(), Args: d.bin(), TimeoutNS: d.int64(), Segment: d.bin()}
		if !d.done() {
			return false
		}
		*m = j
		return true
	case *Result:
		r := Result{ID: d.uint64(), Status: Status(d.fixint()), Data: d.bin(), ElapsedNS: d.int64(), Reason: d.str(), Segment: d.bin()}
		if !d.done() {
			return false
		}
		*m = r
		return true
	}
	return false
}

// fastDecoder reads the fields appendFast writes; the first that does
// not match fails it, and every later read then returns a zero value.
type fastDecoder struct {
	b      []byte
	failed bool
}

// done reports whether every read matched and the body is used up.
func (d *fastDecoder) done() bool { return !d.failed && len(d.b) == 0 }

// take returns the next n bytes, or fails.
func (d *fastDecoder) take(n int) []byte {
	if d.failed || n < 0 || len(d.b) < n {
		d.failed = true
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

// byte reads c, or fails.
func (d *fastDecoder) byte(c byte) bool {
	v := d.take(1)
	if v == nil || v[0] != c {
		d.failed = true
		return false
	}
	return true
}

func (d *fastDecoder) uint64() uint64 {
	if !d.byte(mpUint64) {
		return 0
	}
	if v := d.take(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (d *fastDecoder) int64() int64 {
	if !d.byte(mpInt64) {
		return 0
	}
	if v := d.take(8); v != nil {
		return int64(binary.BigEndian.Uint64(v))
	}
	return 0
}

func (d *fastDecoder) fixint() int {
	v := d.take(1)
	if v == nil || v[0] > mpFixIntMax {
		d.failed = true
		return 0
	}
	return int(v[0])
}

// length reads the length after a bin or str marker of the given widths.
func (d *fastDecoder) length(c, w8, w16, w32 byte) int {
	var v []byte
	switch c {
	case w8:
		v = d.take(1)
		if v != nil {
			return int(v[0])
		}
	case w16:
		v = d.take(2)
		if v != nil {
			return int(binary.BigEndian.Uint16(v))
		}
	case w32:
		v = d.take(4)
		if v != nil {
			return int(binary.BigEndian.Uint32(v))
		}
	}
	d.failed = true
	return 0
}

func (d *fastDecoder) bin() []byte {
	c := d.take(1)
	if c == nil {
		return nil
	}
	if c[0] == mpNil {
		return nil
	}
	v := d.take(d.length(c[0], mpBin8, mpBin16, mpBin32))
	if v == nil {
		return nil
	}
	return append(make([]byte, 0, len(v)), v...)
}

func (d *fastDecoder) str() string {
	c := d.take(1)
	if c == nil {
		return ""
	}
	n := int(c[0] &^ mpFixStr)
	if c[0]&0xe0 != mpFixStr {
		n = d.length(c[0], mpStr8, mpStr16, mpStr32)
	}
	return string(d.take(n))
}
