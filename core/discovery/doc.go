// Package discovery finds ppservers on the local network by UDP broadcast,
// as legacy Parallel Python does: `ppserver -a` announces itself, and a
// client whose ppservers list holds a pattern such as "*" or "10.0.*.*"
// probes for nodes and connects to those it hears. Unlike legacy pp's,
// announcements are signed with the shared secret, so a datagram from
// anyone who does not know it cannot make a client dial anywhere.
//
// # Sockets
//
// Announcers (ppservers) and probers (clients) all bind UDP on the
// discovery port, which is the pp TCP port (default 60000), on the wildcard
// address with SO_REUSEADDR and SO_BROADCAST, so that several of them on one
// host share the port and every one receives each broadcast. Every datagram
// is a broadcast to that port; nothing is sent unicast, because with a
// shared port a unicast datagram would reach only one of the sockets.
// An announcer given an interface address listens on the wildcard address
// all the same, since on Linux a socket bound to a unicast address hears no
// broadcasts, and sends from a second socket bound to that address and
// port.
//
// It is IPv4 only, as IPv6 has no broadcast: patterns are IPv4 masks, and
// an announcer refuses an IPv6 interface address, except the dual-stack
// wildcard "::", which announces as the IPv4 wildcard does.
//
// # Datagrams
//
// A datagram is one line of ASCII, without a newline, its fields separated
// by single spaces:
//
//	ppgo-discovery 2 C                                  a client is looking for ppservers
//	ppgo-discovery 2 S <ip> <port> <stamp> <mac>        a ppserver accepts TCP connections
//	                                                    at <ip>:<port>
//
// "2" is the protocol version. <ip> is dotted-decimal IPv4 without leading
// zeros, neither 0.0.0.0, 255.255.255.255 nor multicast; <port> is
// decimal, 1 to 65535; <stamp> is decimal milliseconds since the Unix
// epoch, up to 2^64-1; neither has leading zeros. <mac> is 32 lowercase
// hex digits: the first 16 bytes of
//
//	HMAC-SHA256(K, the datagram up to the space before <mac>)
//	K = HMAC-SHA256(secret, "ppgo discovery announcement key v2")
//
// where secret is the shared secret clients and the node connect with
// (legacy pp's default when the node has none; see core/auth). The label
// is discovery's own, so K is none of core/auth's keys and proofs.
// For example, under the secret "discovery test secret" (a test checks
// this):
//
//	ppgo-discovery 2 S 10.0.0.5 60000 1767225600000 80f534f3de82139c20e8e8a7361426de
//
// Receivers ignore anything else: other versions (version 1 announced
// "ppgo-discovery 1 S <port>", unsigned), unknown kinds, malformed or
// oversized datagrams (over MaxDatagram bytes). The parser is strict: a
// datagram it accepts is byte for byte what the sender wrote, so the MAC
// is checked over the received bytes themselves. Legacy pp's bare "S" and
// "C" are not understood: its "S" does not say which port the node
// listens on.
//
// # Announcing
//
// An announcer broadcasts S when it starts, again at least every
// AnnounceConfig.Interval so that clients which only listen find it, and in
// answer to every C it hears — but at most once per ReplyGap, so that a crowd
// of clients cannot make it flood the network: probes heard within the gap
// share one answer. Probes are not signed: all one can do is bring the
// next answer forward, within that limit.
//
// An announcement names the address it leaves from: the interface's,
// when one is given, else the one the route to the broadcast address
// leaves by (the kernel's choice of source address for the broadcast).
// The address is signed, so relaying a fresh announcement from elsewhere
// still points clients at the real node. Its stamp is the time, but always
// past the announcer's previous one.
//
// # Probing
//
// A prober broadcasts C when it starts, then again after MinInterval,
// doubling the wait up to MaxInterval. It reports an S when, in this order:
// the named address matches its Pattern; the MAC is right under its
// secret; the stamp is within MaxClockSkew of its clock; and the stamp is
// past the last one it accepted for that address (it remembers up to
// MaxAnnouncers of them, forgetting first those too old to replay). So a
// replay is refused whether recorded long ago (the clock) or a moment ago
// (the stamp). It reports the same node again each time it hears a newer
// announcement; that is how a node that went away and came back is found
// anew, so callers dedupe.
//
// # Floods
//
// Whatever a datagram holds, handling it costs no allocation beyond the
// one read buffer, and no log line: each endpoint counts what it ignored,
// by reason, and logs one summary at once and then at most one every
// SummaryInterval: a warning when the reasons point at a misconfiguration
// or an attack (another secret, version or clock; replays), else a debug
// line. A forged announcement costs one HMAC. How many nodes a client
// takes from discovery, and how soon it dials a node that failed again,
// is its caller's business (core/jobserver, core/remote).
package discovery
