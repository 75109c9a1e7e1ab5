package wire

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// ioBufferSize is the size of a Conn's read and write buffers: large
// enough that a burst of small jobs or results goes out in one syscall.
const ioBufferSize = 64 << 10

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
	hdr  [headerSize]byte

	send *sealer                // writer side, once sealed
	recv atomic.Pointer[sealer] // reader side, once sealed
}

// NewConn wraps nc. Frames are limited to HandshakeMaxFrame until
// SetMaxFrame raises the limit after a successful handshake.
func NewConn(nc net.Conn) *Conn {
	c := &Conn{
		nc: nc,
		r:  bufio.NewReaderSize(nc, ioBufferSize),
		w:  bufio.NewWriterSize(nc, ioBufferSize),
	}
	c.enc = msgpack.NewEncoder(&c.body)
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
	if err := c.enc.Encode(m); err != nil {
		return fmt.Errorf("wire: encode %v: %w", m.MessageType(), err)
	}
	size := uint64(c.body.Len()) + 1
	if c.send != nil {
		size += TagSize
	}
	if limit := uint64(c.maxFrame.Load()); size > limit {
		return fmt.Errorf("%w: %v of %d bytes, the limit is %d", ErrFrameTooLarge, m.MessageType(), size, limit)
	}
	binary.BigEndian.PutUint32(c.hdr[:4], uint32(size))
	c.hdr[4] = byte(m.MessageType())
	if _, err := c.w.Write(c.hdr[:]); err != nil {
		return err
	}
	if _, err := c.w.Write(c.body.Bytes()); err != nil {
		return err
	}
	if c.send != nil {
		_, err := c.w.Write(c.send.tag(m.MessageType(), c.body.Bytes()))
		return err
	}
	return nil
}

// Flush sends buffered messages.
func (c *Conn) Flush() error { return c.w.Flush() }

// Buffered reports whether written messages wait for Flush.
func (c *Conn) Buffered() bool { return c.w.Buffered() > 0 }

// Read returns the next message. A frame over the limit yields
// ErrFrameTooLarge, one that cannot be decoded ErrMalformed; after either
// the stream cannot be resynchronised and the connection must be closed.
func (c *Conn) Read() (Message, error) {
	var hdr [headerSize]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(hdr[:4])
	if size == 0 {
		return nil, fmt.Errorf("%w: empty frame", ErrMalformed)
	}
	if limit := c.maxFrame.Load(); size > limit {
		return nil, fmt.Errorf("%w: %d bytes announced, the limit is %d", ErrFrameTooLarge, size, limit)
	}
	m, err := newMessage(Type(hdr[4]))
	if err != nil {
		return nil, err
	}
	body := make([]byte, size-1)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return nil, unexpectedEOF(err)
	}
	if recv := c.recv.Load(); recv != nil {
		if len(body) < TagSize {
			return nil, fmt.Errorf("%w: %v frame too short for its MAC", ErrMalformed, m.MessageType())
		}
		at := len(body) - TagSize
		if !hmac.Equal(body[at:], recv.tag(m.MessageType(), body[:at])) {
			return nil, fmt.Errorf("%w: %v frame fails its MAC (altered, injected or replayed)", ErrMalformed, m.MessageType())
		}
		body = body[:at]
	}
	if err := decode(body, m); err != nil {
		return nil, err
	}
	return m, nil
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
	for {
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

// decode fills m from body, which must hold exactly one msgpack value.
func decode(body []byte, m Message) error {
	if err := validate(body, fieldCount[m.MessageType()]); err != nil {
		return fmt.Errorf("%w: %v body: %v", ErrMalformed, m.MessageType(), err)
	}
	r := bytes.NewReader(body)
	dec := msgpack.NewDecoder(r)
	if err := dec.Decode(m); err != nil {
		return fmt.Errorf("%w: %v body: %v", ErrMalformed, m.MessageType(), err)
	}
	if r.Len() != 0 {
		return fmt.Errorf("%w: %v body has %d trailing bytes", ErrMalformed, m.MessageType(), r.Len())
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
