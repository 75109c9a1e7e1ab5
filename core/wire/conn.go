package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// ioBufferSize is the size of a Conn's read and write buffers: large
// enough that a burst of small jobs or results goes out in one syscall.
const ioBufferSize = 64 << 10

// payloadChunk is the most Read allocates for a frame before its bytes
// arrive; a larger frame's buffer doubles as they do. Growing from 64 KiB
// cost a third of a 1 MiB frame's transfer; from 4 MiB a 32 MiB frame's
// growth costs too little to measure.
const payloadChunk = 4 << 20

// Conn frames messages over a net.Conn (see SPEC.md). One goroutine may
// Read while another Writes and Flushes; neither side is safe for more than
// one goroutine at a time.
type Conn struct {
	nc       net.Conn
	r        *bufio.Reader
	w        *bufio.Writer
	maxFrame atomic.Uint32

	body bytes.Buffer // reused encoding buffer of the writer
	enc  *msgpack.Encoder
	hdr  [lengthSize]byte

	// The reader's decoder and the reader over the body it decodes,
	// reused: a decoder made for each message cost more than decoding it.
	dec  *msgpack.Decoder
	read bytes.Reader

	send *sealer                // writer side, once sealed
	recv atomic.Pointer[sealer] // reader side, once sealed

	// in and out count the bytes read from and written to nc, one atomic
	// add per system call, not per message: the buffers batch those.
	in, out atomic.Uint64
}

// counted counts what passes through a Conn's buffers to and from its
// net.Conn, for Traffic.
type counted struct{ c *Conn }

func (r counted) Read(p []byte) (int, error) {
	n, err := r.c.nc.Read(p)
	r.c.in.Add(uint64(n))
	return n, err
}

func (r counted) Write(p []byte) (int, error) {
	n, err := r.c.nc.Write(p)
	r.c.out.Add(uint64(n))
	return n, err
}

// Traffic returns the bytes read and written so far, frame headers and
// handshake included: what crossed the network. Any goroutine may call it.
func (c *Conn) Traffic() (in, out uint64) { return c.in.Load(), c.out.Load() }

// NewConn wraps nc. Frames are limited to HandshakeMaxFrame until
// SetMaxFrame raises the limit after a successful handshake.
func NewConn(nc net.Conn) *Conn {
	c := &Conn{nc: nc}
	c.r = bufio.NewReaderSize(counted{c}, ioBufferSize)
	c.w = bufio.NewWriterSize(counted{c}, ioBufferSize)
	c.enc = msgpack.NewEncoder(&c.body)
	c.dec = msgpack.NewDecoder(&c.read)
	c.maxFrame.Store(HandshakeMaxFrame)
	return c
}

// SetMaxFrame sets the largest frame either direction accepts.
func (c *Conn) SetMaxFrame(n uint32) { c.maxFrame.Store(n) }

// MaxFrame is the current frame limit.
func (c *Conn) MaxFrame() uint32 { return c.maxFrame.Load() }

// NetConn is the underlying connection, for deadlines and addresses.
func (c *Conn) NetConn() net.Conn { return c.nc }

// Close closes the underlying connection.
func (c *Conn) Close() error { return c.nc.Close() }

// Write buffers m; Flush sends what was buffered. A message over the frame
// limit is refused with ErrFrameTooLarge and nothing is written.
func (c *Conn) Write(m Message) error {
	c.body.Reset()
	defer func() {
		if c.body.Cap() > 4*ioBufferSize {
			// Do not pin the memory of one large job for the connection's life.
			c.body = bytes.Buffer{}
		}
	}()
	// The buffer holds what the length counts: the type, then the body,
	// sealed in place once sealed.
	c.body.WriteByte(byte(m.MessageType()))
	if b, ok := appendFast(c.body.AvailableBuffer(), m); ok {
		c.body.Write(b)
	} else if err := c.enc.Encode(m); err != nil {
		return fmt.Errorf("wire: encode %v: %w", m.MessageType(), err)
	}
	size := uint64(c.body.Len())
	if c.send != nil {
		size += TagSize
	}
	if limit := uint64(c.maxFrame.Load()); size > limit {
		return fmt.Errorf("%w: %v of %d bytes, the limit is %d", ErrFrameTooLarge, m.MessageType(), size, limit)
	}
	binary.BigEndian.PutUint32(c.hdr[:], uint32(size))
	payload := c.body.Bytes()
	if c.send != nil {
		c.body.Grow(TagSize) // room to seal in place
		var err error
		if payload, err = c.send.seal(c.body.Bytes(), c.hdr[:]); err != nil {
			return err
		}
	}
	if _, err := c.w.Write(c.hdr[:]); err != nil {
		return err
	}
	_, err := c.w.Write(payload)
	return err
}

// Flush sends buffered messages.
func (c *Conn) Flush() error { return c.w.Flush() }

// Buffered reports whether written messages wait for Flush.
func (c *Conn) Buffered() bool { return c.w.Buffered() > 0 }

// Read returns the next message. A frame over the limit yields
// ErrFrameTooLarge, one that cannot be decoded or (once sealed) opened
// ErrMalformed, a Hello or Auth of another version a *VersionError; after
// any of them the stream cannot be resynchronised and the connection must
// be closed.
func (c *Conn) Read() (Message, error) {
	if recv := c.recv.Load(); recv != nil {
		return c.readSealed(recv)
	}
	var hdr [headerSize]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(hdr[:lengthSize])
	if size == 0 {
		return nil, fmt.Errorf("%w: empty frame", ErrMalformed)
	}
	if limit := c.maxFrame.Load(); size > limit {
		return nil, fmt.Errorf("%w: %d bytes announced, the limit is %d", ErrFrameTooLarge, size, limit)
	}
	m, err := newMessage(Type(hdr[lengthSize]))
	if err != nil {
		return nil, err
	}
	body, err := c.readPayload(size - 1)
	if err != nil {
		return nil, err
	}
	if err := c.decode(body, m); err != nil {
		return nil, err
	}
	return m, nil
}

// readSealed reads a sealed frame: its length, then the encrypted type and
// body and the tag, which must open under the next nonce.
func (c *Conn) readSealed(recv *sealer) (Message, error) {
	var hdr [lengthSize]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(hdr[:])
	if limit := c.maxFrame.Load(); size > limit {
		return nil, fmt.Errorf("%w: %d bytes announced, the limit is %d", ErrFrameTooLarge, size, limit)
	}
	if size < 1+TagSize {
		return nil, fmt.Errorf("%w: sealed frame of %d bytes, too short for a type and a tag", ErrMalformed, size)
	}
	sealed, err := c.readPayload(size)
	if err != nil {
		return nil, err
	}
	plain, err := recv.open(sealed, hdr[:])
	if err != nil {
		return nil, fmt.Errorf("%w: frame %d of %d bytes fails to open (altered, injected, replayed, reordered, or sealed under another key)",
			ErrMalformed, recv.seq-1, size)
	}
	m, err := newMessage(Type(plain[0]))
	if err != nil {
		return nil, err
	}
	if err := c.decode(plain[1:], m); err != nil {
		return nil, err
	}
	return m, nil
}

// readPayload reads the n bytes a frame's length announced. Past
// payloadChunk, memory grows with the bytes that arrive, not with the
// announcement: a frame of a sealed connection is authenticated only once
// it is whole, and a length injected on the path must not make us
// allocate a gigabyte.
func (c *Conn) readPayload(n uint32) ([]byte, error) {
	buf := make([]byte, 0, min(int(n), payloadChunk))
	for len(buf) < int(n) {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(len(buf), int(n)-len(buf)))
		}
		k, err := io.ReadFull(c.r, buf[len(buf):min(cap(buf), int(n))])
		buf = buf[:len(buf)+k]
		if err != nil {
			return nil, unexpectedEOF(err)
		}
	}
	return buf, nil
}

// ReadEach reads messages until one cannot be read or handle fails, and
// returns that error. Heartbeats only show that the peer is alive, so
// handle gets every message but those. Each read must begin within silence
// of the last: a peer that sends nothing for that long (both ends
// heartbeat, so only a dead peer or network does) ends it with an error
// that names the peer, "node silent for 20s". A connection the network
// broke (reset, or given up on by the kernel: ETIMEDOUT, which is a
// net.Error Timeout too) is reported as that, "connection to node broke:
// ...", wrapping the cause.
func (c *Conn) ReadEach(peer string, silence time.Duration, handle func(Message) error) error {
	return c.ReadBursts(peer, silence, handle, nil)
}

// ReadBursts is ReadEach that also calls drained, when it is not nil,
// each time the messages that arrived together have been handled: before
// a read that has no whole frame buffered and may wait for the network.
// A peer that answers a burst of messages can hold its answers back until
// then and send them with one write.
func (c *Conn) ReadBursts(peer string, silence time.Duration, handle func(Message) error, drained func()) error {
	for {
		if drained != nil && !c.frameBuffered() {
			drained()
		}
		if err := c.nc.SetReadDeadline(time.Now().Add(silence)); err != nil {
			return err
		}
		m, err := c.Read()
		if err != nil {
			return readError(peer, silence, err)
		}
		if _, ok := m.(*Heartbeat); ok {
			continue
		}
		if err := handle(m); err != nil {
			return err
		}
	}
}

// frameBuffered reports whether a whole frame is buffered, so that the
// next Read returns without waiting for the network.
func (c *Conn) frameBuffered() bool {
	n := c.r.Buffered()
	if n < lengthSize {
		return false
	}
	hdr, err := c.r.Peek(lengthSize) // buffered: Peek does not read
	return err == nil && uint64(n) >= lengthSize+uint64(binary.BigEndian.Uint32(hdr))
}

// readError says why reading from peer stopped: its silence (our own read
// deadline passed), the network (an error from the socket), or err as it
// is (a clean close, our own Close, a malformed frame).
func readError(peer string, silence time.Duration, err error) error {
	var oe *net.OpError
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("%s silent for %v", peer, silence)
	case errors.Is(err, net.ErrClosed) || !errors.As(err, &oe):
		return err
	}
	return fmt.Errorf("connection to %s broke: %w", peer, err)
}

// decode fills m from body, which must hold exactly one msgpack value. The
// version of a Hello or Auth is checked first, so that a peer of another
// version is told so whatever shape its message has.
func (c *Conn) decode(body []byte, m Message) error {
	if t := m.MessageType(); t == TypeHello || t == TypeAuth {
		v, ok := peekVersion(body)
		if !ok {
			return fmt.Errorf("%w: %v body does not begin with a version", ErrMalformed, t)
		}
		if v != Version {
			return &VersionError{Type: t, Version: v}
		}
	}
	if err := validate(body, fieldCount[m.MessageType()]); err != nil {
		return fmt.Errorf("%w: %v body: %v", ErrMalformed, m.MessageType(), err)
	}
	if decodeFast(body, m) {
		return nil
	}
	c.read.Reset(body)
	c.dec.Reset(&c.read) // a bytes.Reader is read as it is, not through a buffer
	if err := c.dec.Decode(m); err != nil {
		return fmt.Errorf("%w: %v body: %v", ErrMalformed, m.MessageType(), err)
	}
	if n := c.read.Len(); n != 0 {
		return fmt.Errorf("%w: %v body has %d trailing bytes", ErrMalformed, m.MessageType(), n)
	}
	return nil
}

// unexpectedEOF reports a frame cut short as io.ErrUnexpectedEOF: the peer
// went away in the middle of a message, not between two.
func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// SetDeadline is a shorthand for the underlying connection's deadline.
func (c *Conn) SetDeadline(t time.Time) error { return c.nc.SetDeadline(t) }
