package discovery

import "time"

// Defaults and limits of the discovery protocol, named in one place.
const (
	// DefaultPort is the pp port: ppservers accept TCP connections on it,
	// and discovery uses the same number for UDP.
	DefaultPort = 60000

	// DefaultBroadcast is where datagrams go when neither a pattern nor an
	// explicit broadcast address says otherwise.
	DefaultBroadcast = "255.255.255.255"

	// DefaultAnnounceInterval is how often an announcer broadcasts
	// unasked, for clients that only listen.
	DefaultAnnounceInterval = 30 * time.Second

	// ReplyGap is the least time between an announcement and the answer
	// to a probe, so probes arriving together are answered by one
	// broadcast.
	ReplyGap = 200 * time.Millisecond

	// DefaultMinProbeInterval and DefaultMaxProbeInterval bound the wait
	// between a prober's broadcasts: quick at first, when nodes are being
	// found, then rarely, since announcers re-announce on their own.
	DefaultMinProbeInterval = 250 * time.Millisecond
	DefaultMaxProbeInterval = 5 * time.Second

	// MaxDatagram is the longest datagram read whole; a valid one is at
	// most 24 bytes, so anything longer is not ours.
	MaxDatagram = 64

	// protocolMagic and protocolVersion open every datagram.
	protocolMagic   = "ppgo-discovery"
	protocolVersion = "1"
)
