package discovery

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
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
	port uint16 // the announced TCP port; kindServer only
}

func (m message) String() string {
	if m.kind == kindServer {
		return fmt.Sprintf("%s %s S %d", protocolMagic, protocolVersion, m.port)
	}
	return fmt.Sprintf("%s %s C", protocolMagic, protocolVersion)
}

var errNotDiscovery = errors.New("not a ppgo-discovery datagram")

// parseMessage decodes a datagram. It is strict: a datagram it accepts
// is byte for byte what String gives back, so nothing ambiguous gets in.
func parseMessage(b []byte) (message, error) {
	if len(b) > MaxDatagram {
		return message{}, fmt.Errorf("datagram of %d bytes, over %d", len(b), MaxDatagram)
	}
	f := strings.Split(string(b), " ")
	if len(f) < 2 || f[0] != protocolMagic {
		return message{}, errNotDiscovery
	}
	if f[1] != protocolVersion {
		return message{}, fmt.Errorf("protocol version %q, want %s", f[1], protocolVersion)
	}
	switch {
	case len(f) == 3 && f[2] == string(kindClient):
		return message{kind: kindClient}, nil
	case len(f) == 4 && f[2] == string(kindServer):
		port, err := parsePort(f[3])
		if err != nil {
			return message{}, err
		}
		return message{kind: kindServer, port: port}, nil
	}
	return message{}, fmt.Errorf("malformed datagram %q", b)
}

// parsePort accepts a decimal port, 1 to 65535, without sign or leading
// zeros.
func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 || s[0] == '0' {
		return 0, fmt.Errorf("bad port %q: want 1 to 65535", s)
	}
	return uint16(n), nil
}
