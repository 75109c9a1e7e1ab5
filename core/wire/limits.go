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

// ClampSilence is the silence limit a user's setting d asks for (pp's
// socket_timeout, ppserver -k): DefaultSilence for 0 or less, else d kept
// within MinSilence and DefaultSilence. Peers heartbeat every
// HeartbeatInterval, so a longer limit (legacy pp's default is an hour)
// would only delay noticing a dead peer, and a shorter one than MinSilence
// could drop a live peer whose heartbeat is a little late.
func ClampSilence(d time.Duration) time.Duration {
	if d <= 0 {
		return DefaultSilence
	}
	return min(max(d, MinSilence), DefaultSilence)
}
