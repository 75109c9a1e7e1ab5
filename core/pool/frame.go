package pool

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Frame kinds of the worker pipe protocol (docs/WORKER_PROTOCOL.md). Every
// frame is a little-endian header
//
//	uint32 length of everything after this field
//	uint8  kind
//	uint64 job id
//	uint64 aux
//
// followed by a kind-specific body. The Python side decodes it with struct.
const (
	// Go → worker. aux: function key. Body: args.
	kindJob byte = 1
	// Go → worker. aux: function key. Body: uint32 source length, source, args.
	kindJobWithSource byte = 2

	// worker → Go. job id: the worker's pid. No body.
	kindReady byte = 16
	// worker → Go. aux: nanoseconds the job ran. Body: the serialized result.
	kindResult byte = 17

	// withSegment, or'ed into a JOB or RESULT kind, says a shared-memory
	// segment (the body's out-of-band buffers) accompanies the frame: it
	// was sent on the segment socket just before (segment.go).
	withSegment byte = 0x80
)

var errFrameTooLarge = errors.New("frame body exceeds the pipe protocol's 4 GiB limit")

// A protocolError is a frame that breaks the protocol: the worker that
// sent it is broken (say, a job wrote to its results pipe), so the pool
// kills it. Its text completes "worker process PID ...".
type protocolError struct{ msg string }

func (e *protocolError) Error() string { return e.msg }

func badFrame(format string, args ...any) error {
	return &protocolError{fmt.Sprintf(format, args...)}
}

type frameHeader struct {
	kind byte // without withSegment
	id   uint64
	aux  uint64
	body uint32 // length of the body
	// segment: a segment accompanies the frame (withSegment was set).
	segment bool
}

// writeJobFrame writes one job; source is nil when the worker already has
// the function. segment says the job's segment was sent ahead of it.
func writeJobFrame(w *bufio.Writer, id, key uint64, source, args []byte, segment bool) error {
	kind := kindJob
	body := uint64(len(args))
	if source != nil {
		kind = kindJobWithSource
		body += 4 + uint64(len(source))
	}
	if segment {
		kind |= withSegment
	}
	if body > MaxFrameBody {
		return errFrameTooLarge
	}
	hdr := jobFrameHeader(kind, id, key, uint32(body))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	if source != nil {
		var n [4]byte
		binary.LittleEndian.PutUint32(n[:], uint32(len(source)))
		if _, err := w.Write(n[:]); err != nil {
			return err
		}
		if _, err := w.Write(source); err != nil {
			return err
		}
	}
	_, err := w.Write(args)
	return err
}

// appendJobFrame appends the frame of a job whose function the worker has
// (kindJob) to dst; the caller keeps args within MaxFrameBody.
func appendJobFrame(dst []byte, id, key uint64, args []byte) []byte {
	hdr := jobFrameHeader(kindJob, id, key, uint32(len(args)))
	return append(append(dst, hdr[:]...), args...)
}

// jobFrameHeader is the header of a job frame with a body of body bytes.
func jobFrameHeader(kind byte, id, key uint64, body uint32) [frameHeaderSize]byte {
	var hdr [frameHeaderSize]byte
	binary.LittleEndian.PutUint32(hdr[0:], body+frameHeaderSize-4)
	hdr[4] = kind
	binary.LittleEndian.PutUint64(hdr[5:], id)
	binary.LittleEndian.PutUint64(hdr[13:], key)
	return hdr
}

// readFrameHeader reads the next header a worker sent.
func readFrameHeader(r io.Reader) (frameHeader, error) {
	var hdr [frameHeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return frameHeader{}, err
	}
	n := binary.LittleEndian.Uint32(hdr[0:])
	if n < frameHeaderSize-4 {
		return frameHeader{}, badFrame("sent a frame length %d shorter than its header", n)
	}
	return frameHeader{
		kind:    hdr[4] &^ withSegment,
		segment: hdr[4]&withSegment != 0,
		id:      binary.LittleEndian.Uint64(hdr[5:]),
		aux:     binary.LittleEndian.Uint64(hdr[13:]),
		body:    n - (frameHeaderSize - 4),
	}, nil
}

// checkWorkerHeader vets a header a worker sent before anything is
// allocated for its body: a worker sends READY, with no body, and RESULT,
// with at most maxResult bytes, and maybe a segment.
func checkWorkerHeader(h frameHeader, maxResult uint32) error {
	switch h.kind {
	case kindReady:
		if h.body != 0 {
			return badFrame("sent a READY frame with a %d-byte body; READY has none", h.body)
		}
		if h.segment {
			return badFrame("sent a READY frame with a segment; READY has none")
		}
	case kindResult:
		if h.body > maxResult {
			return badFrame("announced a %d-byte result (%s), over the %s limit",
				h.body, byteSize(uint64(h.body)), byteSize(uint64(maxResult)))
		}
	default:
		kind := h.kind
		if h.segment {
			kind |= withSegment
		}
		return badFrame("sent a frame of kind %d, not one a worker sends", kind)
	}
	return nil
}

// readWorkerFrame reads the next frame a worker sent: its header, vetted by
// checkWorkerHeader, then its body. A clean end of input is io.EOF, input
// that ends inside a frame io.ErrUnexpectedEOF; a frame that breaks the
// protocol is a *protocolError.
func readWorkerFrame(r io.Reader, maxResult uint32) (frameHeader, []byte, error) {
	h, err := readFrameHeader(r)
	if err != nil {
		return frameHeader{}, nil, err
	}
	if err := checkWorkerHeader(h, maxResult); err != nil {
		return frameHeader{}, nil, err
	}
	body, err := readBody(r, int(h.body))
	if err != nil {
		return frameHeader{}, nil, err
	}
	return h, body, nil
}

// readBody reads an n-byte body into a buffer that grows as the bytes
// arrive, never more than bodyChunk ahead of them: a length is only a
// claim until the bytes are there.
func readBody(r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, min(n, bodyChunk))
	read := 0
	for {
		m, err := io.ReadFull(r, buf[read:])
		read += m
		if err == io.EOF {
			err = io.ErrUnexpectedEOF // the header promised more
		}
		if err != nil {
			return nil, err
		}
		if read == n {
			return buf, nil
		}
		grown := make([]byte, min(2*len(buf), n))
		copy(grown, buf)
		buf = grown
	}
}

// byteSize spells a size as people read it: "12 bytes", "1.7 GiB".
func byteSize(n uint64) string {
	if n < 1<<10 {
		return fmt.Sprintf("%d bytes", n)
	}
	v, unit := float64(n)/(1<<10), 0
	for v >= 1<<10 && unit < 3 {
		v /= 1 << 10
		unit++
	}
	num := strings.TrimSuffix(strconv.FormatFloat(v, 'f', 1, 64), ".0")
	return num + " " + [...]string{"KiB", "MiB", "GiB", "TiB"}[unit]
}
