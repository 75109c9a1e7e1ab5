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
	// broadcast. Probes are not authenticated, so this is also all that
	// stops anyone from making an announcer flood the network.
	ReplyGap = 200 * time.Millisecond

	// DefaultMinProbeInterval and DefaultMaxProbeInterval bound the wait
	// between a prober's broadcasts: quick at first, when nodes are being
	// found, then rarely, since announcers re-announce on their own.
	DefaultMinProbeInterval = 250 * time.Millisecond
	DefaultMaxProbeInterval = 5 * time.Second

	// MaxDatagram is the longest datagram read whole. A valid one is at
	// most 94 bytes (an announcement with a 15-character address, a
	// 5-digit port and a 20-digit stamp), so anything longer is not ours.
	MaxDatagram = 128

	// MaxClockSkew is how far an announcement's stamp may be from the
	// prober's clock. Outside it an announcement is stale (a replay of
	// an old recording) or from a clock that is badly wrong. It is as
	// wide as Kerberos's default because hosts on a LAN without NTP drift
	// apart by minutes, and a replay within it does little: it names a
	// node that announced itself moments ago, and the per-node stamp
	// check refuses it to a prober that heard the original.
	MaxClockSkew = 5 * time.Minute

	// MaxAnnouncers bounds the announcers a prober remembers (the last
	// stamp of each, to refuse replays). Only holders of the secret can
	// add one, and one older than MaxClockSkew is forgotten when room is
	// needed, since its replays fail the clock check anyway; an
	// announcement from a new node while the table is full of fresh ones
	// is ignored. Four times jobserver's cap on discovered nodes, so the
	// table is never what limits a cluster.
	MaxAnnouncers = 1024

	// SummaryInterval is the least time between two log lines about
	// ignored datagrams: a flood costs one line per interval, not one per
	// datagram.
	SummaryInterval = time.Minute

	// macSize is how much of the HMAC-SHA256 an announcement carries:
	// 128 bits, the truncation RFC 2104 allows (half the output), which
	// an attacker must guess online, one datagram per try.
	macSize = 16

	// keyLabel derives the announcement key from the shared secret. It
	// differs from every label core/auth uses, so an announcement's MAC
	// is never a handshake proof or a session key, nor the other way
	// round.
	keyLabel = "ppgo discovery announcement key v2"

	// protocolMagic and protocolVersion open every datagram.
	protocolMagic   = "ppgo-discovery"
	protocolVersion = "2"
)
