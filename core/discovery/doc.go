// Package discovery finds ppservers on the local network by UDP broadcast,
// as legacy Parallel Python does: `ppserver -a` announces itself, and a
// client whose ppservers list holds a pattern such as "*" or "10.0.*.*"
// probes for nodes and connects to those it hears.
//
// # Protocol
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
// port, so its announcements carry that address.
//
// It is IPv4 only, as IPv6 has no broadcast: patterns are IPv4 masks, and
// an announcer refuses an IPv6 interface address, except the dual-stack
// wildcard "::", from which it announces as from "0.0.0.0". Nodes on IPv6
// are named by address instead ("[::1]:35000").
//
// A datagram is one line of ASCII, without a newline:
//
//	ppgo-discovery 1 S <port>   a ppserver accepts TCP connections on <port>
//	                            at this datagram's source address
//	ppgo-discovery 1 C          a client is looking for ppservers
//
// "1" is the protocol version; <port> is decimal, 1 to 65535, without
// leading zeros. Receivers ignore anything else: other versions, unknown
// kinds, malformed or oversized datagrams (over MaxDatagram bytes). Nobody
// acts on its own kind of datagram, so hearing one's own broadcast is
// harmless. Legacy pp's bare "S" and "C" are not understood: its "S" does
// not say which port the node listens on.
//
// An announcer broadcasts S when it starts, again at least every
// AnnounceConfig.Interval so that clients which only listen find it, and in
// answer to every C it hears — but at most once per ReplyGap, so that a crowd
// of clients cannot make it flood the network: probes heard within the gap
// share one answer.
//
// A prober broadcasts C when it starts, then again after MinInterval,
// doubling the wait up to MaxInterval, and reports every S it hears from an
// address its Pattern matches. It reports the same node again each time it
// hears it; that is how a node that went away and came back is found anew,
// so callers dedupe.
package discovery
