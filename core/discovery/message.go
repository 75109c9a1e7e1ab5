package discovery

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
)

// kind says who sent a datagram.
type kind byte

const (
	kindServer kind = 'S' // a ppserver announcing itself
	kindClient kind = 'C' // a client probing for ppservers
)

// message is one discovery datagram.
type message struct {
	kind kind
	// The rest is kindServer's only.
	addr  netip.AddrPort // where the node accepts TCP connections: IPv4, port not 0
	stamp uint64         // milliseconds since the Unix epoch, rising with each announcement
	mac   [macSize]byte  // over the datagram up to the MAC (see sign)
}

// String is the datagram that carries m.
func (m message) String() string { return string(m.appendTo(nil)) }

func (m message) appendTo(b []byte) []byte {
	if m.kind != kindServer {
		return append(b, protocolMagic+" "+protocolVersion+" C"...)
	}
	b = m.appendSigned(b)
	b = append(b, ' ')
	return hex.AppendEncode(b, m.mac[:])
}

// appendSigned appends what an announcement's MAC covers: the datagram up
// to the space before the MAC, which binds the MAC to the kind, the
// version, the node's address and the stamp.
func (m message) appendSigned(b []byte) []byte {
	b = append(b, protocolMagic+" "+protocolVersion+" S "...)
	b = m.addr.Addr().AppendTo(b)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(m.addr.Port()), 10)
	b = append(b, ' ')
	return strconv.AppendUint(b, m.stamp, 10)
}

// reason is why a datagram was ignored, or ok. Parsing and checking return
// one instead of an error so that a flood of bad datagrams allocates
// nothing; the endpoint counts them for its periodic summary.
type reason uint8

const (
	ok         reason = iota
	notOurs           // does not start with the magic
	oversized         // over MaxDatagram bytes
	badVersion        // another version of this protocol
	malformed         // our magic and version, but not a datagram this version writes
	ownKind           // an announcement heard by an announcer, or a probe by a prober
	outside           // announces a node the prober's pattern does not match
	badClock          // stamp further than MaxClockSkew from the prober's clock
	duplicate         // the announcement last accepted from that node, heard again
	replayed          // older than the announcement last accepted from that node
	badMAC            // a different secret, or forged
	tableFull         // a new node while MaxAnnouncers fresh ones are remembered
	numReasons
)

var reasonText = [numReasons]string{
	ok:         "ok",
	notOurs:    "not ppgo-discovery datagrams",
	oversized:  "over MaxDatagram bytes",
	badVersion: "of another ppgo-discovery version (older or newer ppgo?)",
	malformed:  "malformed",
	ownKind:    "of this end's own kind",
	outside:    "announcing nodes outside the pattern",
	badClock:   "with stamps over MaxClockSkew from this clock (clocks apart, or replays of old ones)",
	duplicate:  "duplicates of an accepted announcement",
	replayed:   "replayed (older than one already accepted from that node)",
	badMAC:     "failing authentication (another secret, or forged)",
	tableFull:  "from new nodes while MaxAnnouncers are remembered",
}

func (r reason) String() string {
	if r < numReasons {
		return reasonText[r]
	}
	return "reason " + strconv.Itoa(int(r))
}

// alarming says whether datagrams ignored for r deserve a warning rather
// than a debug line: they point at a misconfiguration (secret, version,
// clocks) or an attack, not at ordinary traffic on a shared port.
func (r reason) alarming() bool {
	switch r {
	case badVersion, badClock, replayed, badMAC, tableFull:
		return true
	}
	return false
}

var prefix = []byte(protocolMagic + " ")

// parseMessage decodes a datagram. It is strict: a datagram it accepts is
// byte for byte what String gives back, so nothing ambiguous gets in, and
// the bytes an announcement's MAC covers are a prefix of the datagram
// itself. It checks the form only; the MAC is the prober's to check. It
// allocates nothing, whatever it is fed.
func parseMessage(b []byte) (message, reason) {
	if len(b) > MaxDatagram {
		return message{}, oversized
	}
	rest, found := bytes.CutPrefix(b, prefix)
	if !found {
		return message{}, notOurs
	}
	version, rest, _ := bytes.Cut(rest, []byte{' '})
	if string(version) != protocolVersion {
		if _, isNumber := parseDecimal(version, 1<<64-1); isNumber {
			return message{}, badVersion
		}
		return message{}, malformed
	}
	if string(rest) == string(kindClient) {
		return message{kind: kindClient}, ok
	}
	var f [5][]byte // S, address, port, stamp, MAC
	for i := range f {
		var more bool
		f[i], rest, more = bytes.Cut(rest, []byte{' '})
		if more != (i < len(f)-1) {
			return message{}, malformed
		}
	}
	if string(f[0]) != string(kindServer) {
		return message{}, malformed
	}
	ip, okIP := parseIPv4(f[1])
	port, okPort := parseDecimal(f[2], 65535)
	stamp, okStamp := parseDecimal(f[3], 1<<64-1)
	if !okIP || !okPort || port == 0 || !okStamp || !isLowerHex(f[4], 2*macSize) {
		return message{}, malformed
	}
	m := message{kind: kindServer, addr: netip.AddrPortFrom(ip, uint16(port)), stamp: stamp}
	if _, err := hex.Decode(m.mac[:], f[4]); err != nil {
		return message{}, malformed // isLowerHex has ruled it out
	}
	return m, ok
}

// parseIPv4 accepts dotted-decimal IPv4 as netip writes it: four octets,
// 0 to 255, without leading zeros. Unspecified, multicast and broadcast
// addresses name no node.
func parseIPv4(b []byte) (netip.Addr, bool) {
	var a [4]byte
	for i := range a {
		octet, rest, more := bytes.Cut(b, []byte{'.'})
		if more != (i < 3) {
			return netip.Addr{}, false
		}
		n, okN := parseDecimal(octet, 255)
		if !okN {
			return netip.Addr{}, false
		}
		a[i], b = byte(n), rest
	}
	ip := netip.AddrFrom4(a)
	if ip.IsUnspecified() || ip.IsMulticast() || a == [4]byte{255, 255, 255, 255} {
		return netip.Addr{}, false
	}
	return ip, true
}

// parseDecimal accepts a decimal number up to max, without sign or
// leading zeros ("0" itself is fine).
func parseDecimal(b []byte, max uint64) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 || len(b) > 1 && b[0] == '0' {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if d > max || n > (max-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// parsePort accepts a decimal port, 1 to 65535, without sign or leading
// zeros.
func parsePort(s string) (uint16, error) {
	n, good := parseDecimal([]byte(s), 65535)
	if !good || n == 0 {
		return 0, fmt.Errorf("bad port %q: want 1 to 65535", s)
	}
	return uint16(n), nil
}

func isLowerHex(b []byte, n int) bool {
	if len(b) != n {
		return false
	}
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
