package wire

import "time"

// Limits are the timing and size limits of one end of a connection. A
// zero field means its default; WithDefaults fills them in.
type Limits struct {
	// Silence is how long the peer may stay silent before it is presumed
	// dead (DefaultSilence).
	Silence time.Duration
	// HandshakeTimeout bounds authentication (DefaultHandshakeTimeout).
	HandshakeTimeout time.Duration
	// MaxFrame bounds a frame after the handshake (DefaultMaxFrame).
	MaxFrame uint32
}

// WithDefaults returns l with every zero field set to its default.
func (l Limits) WithDefaults() Limits {
	if l.Silence <= 0 {
		l.Silence = DefaultSilence
	}
	if l.HandshakeTimeout <= 0 {
		l.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if l.MaxFrame == 0 {
		l.MaxFrame = DefaultMaxFrame
	}
	return l
}
