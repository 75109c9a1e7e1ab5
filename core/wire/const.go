package wire

import "time"

// Quiet is how long a sender with silence limit silence may go without
// writing: HeartbeatInterval, or a quarter of a limit shorter than four
// heartbeats (only tests set one).
func Quiet(silence time.Duration) time.Duration {
	return min(HeartbeatInterval, silence/4)
}

// Limits and defaults of the protocol, named in one place. SPEC.md explains
// each one; changing a limit that a peer must share means a new Version.
const (
	// Version is the protocol version this package speaks. A peer that
	// speaks another version is refused during the handshake. Version 1
	// sent frames in clear (authenticated only) and proved the secret
	// with HMACs open to offline guessing; 2 encrypts them (SPEC.md); 3
	// adds the out-of-band Segment to Job and Result.
	Version = 3

	// lengthSize is the frame's length field (uint32, big-endian). It
	// counts what follows: the message type (uint8) and the msgpack body,
	// and on a sealed connection the tag, both encrypted.
	lengthSize = 4

	// headerSize is the header of a frame in clear: its length, then the
	// type.
	headerSize = lengthSize + 1

	// DefaultMaxFrame bounds a frame after the handshake: the largest job
	// (arguments plus function source) or result one connection carries.
	DefaultMaxFrame = 1 << 30

	// HandshakeMaxFrame bounds every frame before the peer has proven it
	// knows the secret, so an unauthenticated peer cannot make us allocate.
	HandshakeMaxFrame = 4 << 10

	// DefaultHandshakeTimeout bounds the whole handshake.
	DefaultHandshakeTimeout = 5 * time.Second

	// DefaultSilence is how long a connection may stay silent before the
	// peer is presumed dead. Both ends send a heartbeat when they have sent
	// nothing for HeartbeatInterval, so only a dead peer or a dead network
	// reaches it; a job may run for any length of time.
	DefaultSilence = 20 * time.Second

	// HeartbeatInterval is the longest either end stays quiet. It is fixed,
	// not negotiated, so any silence limit of at least MinSilence on the
	// other end is safe.
	HeartbeatInterval = time.Second

	// MinSilence is the shortest silence limit user-facing settings
	// (socket_timeout, ppserver -k) may ask for: four heartbeats.
	MinSilence = 4 * HeartbeatInterval

	// ShareSize is the size of each side's key share in the handshake: an
	// X25519 public key, fresh for every connection.
	ShareSize = 32

	// SaltSize is the size of the salt a server stretches its secret with.
	SaltSize = 16

	// ProofSize is the size of each side's proof of the secret.
	ProofSize = 32

	// DefaultPort is the TCP (and discovery UDP) port of a ppserver.
	DefaultPort = 60000
)
