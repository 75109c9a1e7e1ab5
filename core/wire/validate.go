package wire

import (
	"encoding/binary"
	"fmt"
	"math"
)

// maxNesting bounds array nesting in a body; messages are flat arrays.
const maxNesting = 4

// validate checks that body is exactly one msgpack array of fields
// values built from the types messages use (nil, bool, integers, str, bin,
// arrays) and that every length it announces fits in the bytes that
// follow. The msgpack decoder allocates what a length announces before
// reading, so this runs first: a 12-byte frame must not make us allocate
// 4 GiB. A version of the protocol has a fixed number of fields per
// message, so a shorter or longer array is malformed too.
func validate(body []byte, fields int) error {
	n, ok := arrayLen(body)
	if !ok {
		return fmt.Errorf("not an array")
	}
	if n != uint64(fields) {
		return fmt.Errorf("%d fields, want %d", n, fields)
	}
	rest, err := skipValue(body, 0)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("%d trailing bytes", len(rest))
	}
	return nil
}

// skipValue returns b after the msgpack value at its start.
func skipValue(b []byte, depth int) ([]byte, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("truncated value")
	}
	c, b := b[0], b[1:]
	switch {
	case c <= 0x7f, c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3: // fixints, nil, bools
		return b, nil
	case c >= 0xa0 && c <= 0xbf: // fixstr
		return skipBytes(b, uint64(c&0x1f))
	case c >= 0x90 && c <= 0x9f: // fixarray
		return skipArray(b, uint64(c&0x0f), depth)
	}
	switch c {
	case 0xcc, 0xd0: // uint8, int8
		return skipBytes(b, 1)
	case 0xcd, 0xd1:
		return skipBytes(b, 2)
	case 0xce, 0xd2:
		return skipBytes(b, 4)
	case 0xcf, 0xd3:
		return skipBytes(b, 8)
	case 0xc4, 0xd9: // bin8, str8
		n, b, err := readLength(b, 1)
		if err != nil {
			return nil, err
		}
		return skipBytes(b, n)
	case 0xc5, 0xda: // bin16, str16
		n, b, err := readLength(b, 2)
		if err != nil {
			return nil, err
		}
		return skipBytes(b, n)
	case 0xc6, 0xdb: // bin32, str32
		n, b, err := readLength(b, 4)
		if err != nil {
			return nil, err
		}
		return skipBytes(b, n)
	case 0xdc: // array16
		n, b, err := readLength(b, 2)
		if err != nil {
			return nil, err
		}
		return skipArray(b, n, depth)
	case 0xdd: // array32
		n, b, err := readLength(b, 4)
		if err != nil {
			return nil, err
		}
		return skipArray(b, n, depth)
	}
	return nil, fmt.Errorf("unexpected msgpack type 0x%02x", c)
}

func skipArray(b []byte, n uint64, depth int) ([]byte, error) {
	if depth >= maxNesting {
		return nil, fmt.Errorf("arrays nested deeper than %d", maxNesting)
	}
	if n > uint64(len(b)) { // every element takes at least one byte
		return nil, fmt.Errorf("array of %d elements in %d bytes", n, len(b))
	}
	var err error
	for range n {
		if b, err = skipValue(b, depth+1); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func skipBytes(b []byte, n uint64) ([]byte, error) {
	if n > uint64(len(b)) {
		return nil, fmt.Errorf("%d bytes announced, %d left", n, len(b))
	}
	return b[n:], nil
}

// readLength reads a big-endian length of size bytes.
func readLength(b []byte, size int) (uint64, []byte, error) {
	if len(b) < size {
		return 0, nil, fmt.Errorf("truncated length")
	}
	switch size {
	case 1:
		return uint64(b[0]), b[1:], nil
	case 2:
		return uint64(binary.BigEndian.Uint16(b)), b[2:], nil
	default:
		return uint64(binary.BigEndian.Uint32(b)), b[4:], nil
	}
}

// arrayLen reads the element count of the array header at b's start.
func arrayLen(b []byte) (uint64, bool) {
	switch {
	case len(b) == 0:
		return 0, false
	case b[0] >= 0x90 && b[0] <= 0x9f:
		return uint64(b[0] & 0x0f), true
	case b[0] == 0xdc && len(b) >= 3:
		return uint64(binary.BigEndian.Uint16(b[1:])), true
	case b[0] == 0xdd && len(b) >= 5:
		return uint64(binary.BigEndian.Uint32(b[1:])), true
	}
	return 0, false
}

// peekVersion reads the integer that begins the array at body's start:
// the version of a Hello or Auth of any version. ok is false when body
// does not begin so.
func peekVersion(body []byte) (v int64, ok bool) {
	n, ok := arrayLen(body)
	if !ok || n == 0 {
		return 0, false
	}
	switch {
	case body[0] <= 0x9f:
		body = body[1:]
	case body[0] == 0xdc:
		body = body[3:]
	default: // 0xdd
		body = body[5:]
	}
	return readInt(body)
}

// readInt reads a msgpack integer of any format at b's start. A uint64
// over the int64 range is not a version, nor anything else int64 holds.
func readInt(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	c, b := b[0], b[1:]
	switch {
	case c <= 0x7f:
		return int64(c), true
	case c >= 0xe0:
		return int64(int8(c)), true
	}
	var size int
	switch c {
	case 0xcc, 0xd0: // uint8, int8
		size = 1
	case 0xcd, 0xd1:
		size = 2
	case 0xce, 0xd2:
		size = 4
	case 0xcf, 0xd3:
		size = 8
	default:
		return 0, false
	}
	if len(b) < size {
		return 0, false
	}
	var u uint64
	for _, x := range b[:size] {
		u = u<<8 | uint64(x)
	}
	if c >= 0xd0 { // signed: extend from size bytes
		shift := 64 - 8*size
		return int64(u<<shift) >> shift, true
	}
	if u > math.MaxInt64 {
		return 0, false
	}
	return int64(u), true
}
