package wire

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
)

// TagSize is the size of the MAC that ends every frame of a sealed
// connection: HMAC-SHA256 truncated to 128 bits.
const TagSize = 16

// sealer authenticates one direction of a connection. Each frame's tag
// covers a sequence number, so a frame cannot be replayed, dropped or
// reordered without the receiver noticing.
type sealer struct {
	mac hash.Hash
	seq uint64
	sum []byte
}

func newSealer(key []byte) *sealer {
	return &sealer{mac: hmac.New(sha256.New, key), sum: make([]byte, 0, sha256.Size)}
}

// tag returns the MAC of the next frame (type t, body) and advances the
// sequence. The result is valid until the next call.
func (s *sealer) tag(t Type, body []byte) []byte {
	var prefix [9]byte
	binary.BigEndian.PutUint64(prefix[:8], s.seq)
	prefix[8] = byte(t)
	s.seq++
	s.mac.Reset()
	s.mac.Write(prefix[:])
	s.mac.Write(body)
	s.sum = s.mac.Sum(s.sum[:0])
	return s.sum[:TagSize]
}

// Seal makes every later frame carry a MAC under sendKey and requires one
// under recvKey on every later frame read. The handshake calls it once both
// sides have proven the secret and derived the keys; from then on a peer
// without the keys can neither inject nor alter a frame, even on a
// connection it relays.
func (c *Conn) Seal(sendKey, recvKey []byte) {
	c.send = newSealer(sendKey)
	c.recv.Store(newSealer(recvKey))
}
