package discovery

import (
	"crypto/hmac"
	"crypto/sha256"
	"hash"
)

// announceKey derives the key announcements are signed with from the
// shared secret, as core/auth derives its keys: HMAC-SHA256 keyed with the
// secret over a label of its own, so that no announcement's MAC can serve
// as a handshake proof or a session key, nor the other way round.
func announceKey(secret []byte) []byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(keyLabel))
	return mac.Sum(nil)
}

// signer signs and checks announcements under one secret. It keeps its
// HMAC state and output buffer, so that checking a datagram allocates
// nothing: a flood of forged announcements costs a hash each, no garbage.
// Not safe for concurrent use; each endpoint has its own.
type signer struct {
	mac hash.Hash
	buf [MaxDatagram]byte
	sum [sha256.Size]byte
}

func newSigner(secret []byte) *signer {
	return &signer{mac: hmac.New(sha256.New, announceKey(secret))}
}

// tag computes the MAC of the signed part of an announcement.
func (s *signer) tag(signed []byte) (tag [macSize]byte) {
	s.mac.Reset()
	s.mac.Write(signed)
	copy(tag[:], s.mac.Sum(s.sum[:0]))
	return tag
}

// sign sets m's MAC.
func (s *signer) sign(m *message) {
	m.mac = s.tag(m.appendSigned(s.buf[:0]))
}

// verify reports whether m, parsed from datagram, carries a valid MAC. The
// parser is strict, so what the MAC covers is the datagram's own prefix:
// nothing is re-encoded.
func (s *signer) verify(m *message, datagram []byte) bool {
	if len(datagram) < 1+2*macSize {
		return false
	}
	signed := datagram[:len(datagram)-1-2*macSize]
	want := s.tag(signed)
	return hmac.Equal(want[:], m.mac[:])
}
