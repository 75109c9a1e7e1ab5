package wire

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"golang.org/x/crypto/chacha20poly1305"
)

// Sizes of a sealed connection (SPEC.md section 5.2).
const (
	// KeySize is the size of each direction's session key.
	KeySize = chacha20poly1305.KeySize
	// TagSize is the size of the Poly1305 tag that ends every sealed frame.
	TagSize = chacha20poly1305.Overhead
)

// errSeqExhausted: a direction has sealed 2^64-1 frames; the next would
// reuse a nonce. Unreachable in practice (a frame a nanosecond for 584
// years), and refused all the same.
var errSeqExhausted = errors.New("wire: sequence numbers exhausted; the connection must be closed")

// sealer encrypts or opens one direction of a connection with
// ChaCha20-Poly1305. The nonce is the direction's frame count, so no two
// frames share one, and a frame that is dropped, replayed or moved fails
// to open.
type sealer struct {
	aead  cipher.AEAD
	seq   uint64
	nonce [chacha20poly1305.NonceSize]byte
}

func newSealer(key []byte) (*sealer, error) {
	aead, err := chacha20poly1305.New(key)
	if err != nil {
		return nil, fmt.Errorf("wire: session key: %w", err)
	}
	return &sealer{aead: aead}, nil
}

// next sets the nonce of the next frame: 4 zero bytes, then the sequence
// number, big-endian.
func (s *sealer) next() error {
	if s.seq == math.MaxUint64 {
		return errSeqExhausted
	}
	binary.BigEndian.PutUint64(s.nonce[4:], s.seq)
	s.seq++
	return nil
}

// seal encrypts plain (type byte and body) in place, appending the tag;
// plain must have TagSize bytes of spare capacity. hdr, the frame's length
// field, is authenticated with it.
func (s *sealer) seal(plain, hdr []byte) ([]byte, error) {
	if err := s.next(); err != nil {
		return nil, err
	}
	return s.aead.Seal(plain[:0], s.nonce[:], plain, hdr), nil
}

// open decrypts sealed (ciphertext and tag) in place.
func (s *sealer) open(sealed, hdr []byte) ([]byte, error) {
	if err := s.next(); err != nil {
		return nil, err
	}
	return s.aead.Open(sealed[:0], s.nonce[:], sealed, hdr)
}

// Seal encrypts every later frame written under sendKey and requires every
// later frame read to open under recvKey (SPEC.md section 5.2). The
// handshake calls it once both ends hold the session keys; from then on a
// peer without them can neither read, alter, inject, drop, replay nor
// reorder a frame, even on a connection whose handshake it relayed. Keys
// must be KeySize bytes.
func (c *Conn) Seal(sendKey, recvKey []byte) error {
	send, err := newSealer(sendKey)
	if err != nil {
		return err
	}
	recv, err := newSealer(recvKey)
	if err != nil {
		return err
	}
	c.send = send
	c.recv.Store(recv)
	return nil
}
