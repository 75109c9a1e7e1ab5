package pool

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
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
)

var errFrameTooLarge = errors.New("frame body exceeds the pipe protocol's 4 GiB limit")

type frameHeader struct {
	kind byte
	id   uint64
	aux  uint64
	body uint32 // length of the body
}

// writeJobFrame writes one job; source is nil when the worker already has
// the function.
func writeJobFrame(w *bufio.Writer, id, key uint64, source, args []byte) error {
	kind := kindJob
	body := uint64(len(args))
	if source != nil {
		kind = kindJobWithSource
		body += 4 + uint64(len(source))
	}
	if body > MaxFrameBody {
		return errFrameTooLarge
	}
	var hdr [frameHeaderSize]byte
	binary.LittleEndian.PutUint32(hdr[0:], uint32(body)+frameHeaderSize-4)
	hdr[4] = kind
	binary.LittleEndian.PutUint64(hdr[5:], id)
	binary.LittleEndian.PutUint64(hdr[13:], key)
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

// readFrameHeader reads the next header a worker sent.
func readFrameHeader(r io.Reader) (frameHeader, error) {
	var hdr [frameHeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return frameHeader{}, err
	}
	n := binary.LittleEndian.Uint32(hdr[0:])
	if n < frameHeaderSize-4 {
		return frameHeader{}, fmt.Errorf("frame length %d shorter than its header", n)
	}
	return frameHeader{
		kind: hdr[4],
		id:   binary.LittleEndian.Uint64(hdr[5:]),
		aux:  binary.LittleEndian.Uint64(hdr[13:]),
		body: n - (frameHeaderSize - 4),
	}, nil
}
