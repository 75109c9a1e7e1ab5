package discovery

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Pattern is a ppservers entry that asks for autodiscovery: "*", "*:port",
// or a mask such as "10.0.*.*" or "10.0.*.*:port", whose '*' octets are
// wildcards. Its zero value matches nothing; make one with ParsePattern.
type Pattern struct {
	net  netip.Prefix // the mask: "10.0.*.*" is 10.0.0.0/16, "*" is 0.0.0.0/0
	port uint16
}

// IsPattern reports whether a ppservers entry asks for autodiscovery
// rather than naming a host.
func IsPattern(entry string) bool { return strings.Contains(entry, "*") }

// ParsePattern parses a ppservers autodiscovery entry. The port, when
// absent, is DefaultPort. Wildcards must be the trailing octets, so the
// mask is a network and its broadcast address is the mask with '*' → 255.
func ParsePattern(entry string) (Pattern, error) {
	p, err := parsePattern(entry)
	if err != nil {
		return Pattern{}, fmt.Errorf("ppservers entry %q: %w", entry, err)
	}
	return p, nil
}

func parsePattern(entry string) (Pattern, error) {
	if looksIPv6(entry) {
		return Pattern{}, errors.New("autodiscovery patterns are IPv4 only (discovery broadcasts); " +
			"name an IPv6 node by its address, as in [::1]:35000")
	}
	host, portText, hasPort := strings.Cut(entry, ":")
	port := uint16(DefaultPort)
	if hasPort {
		var err error
		if port, err = parsePort(portText); err != nil {
			return Pattern{}, err
		}
	}
	if host == "*" {
		host = "*.*.*.*"
	}
	octets := strings.Split(host, ".")
	if len(octets) != 4 {
		return Pattern{}, errors.New("want \"*\" or four dot-separated octets such as 10.0.*.*")
	}
	var a [4]byte
	bits := 0
	for i, o := range octets {
		if o == "*" {
			continue
		}
		if bits != 8*i {
			return Pattern{}, errors.New("only the trailing octets may be '*', as in 10.0.*.*")
		}
		n, err := parseOctet(o)
		if err != nil {
			return Pattern{}, err
		}
		a[i] = n
		bits += 8
	}
	if bits == 32 {
		return Pattern{}, errors.New("no '*': a host, not a pattern")
	}
	return Pattern{net: netip.PrefixFrom(netip.AddrFrom4(a), bits), port: port}, nil
}

// looksIPv6 tells an IPv6 pattern ("::*", "fe80:0:0:0:0:0:0:*",
// "[::*]:5") from an IPv4 one with a bad port ("*:1:2"), so that the
// error says what is wrong; the Python side draws the same line.
func looksIPv6(entry string) bool {
	if strings.ContainsAny(entry, "[]") || strings.Contains(entry, "::") {
		return true
	}
	host, _, _ := strings.Cut(entry, ":")
	return strings.Count(entry, ":") > 1 && !strings.Contains(host, "*")
}

// parseOctet accepts a decimal 0 to 255 without leading zeros, which
// some parsers read as octal.
func parseOctet(s string) (byte, error) {
	n, err := strconv.ParseUint(s, 10, 8)
	if err != nil || (s[0] == '0' && len(s) > 1) {
		return 0, fmt.Errorf("bad octet %q: want 0 to 255 or '*'", s)
	}
	return byte(n), nil
}

// Port is the discovery port, which is also the TCP port of the nodes
// found.
func (p Pattern) Port() int { return int(p.port) }

// Broadcast is where a prober sends by default: the mask with each '*'
// replaced by 255.
func (p Pattern) Broadcast() netip.Addr {
	if !p.net.IsValid() {
		return netip.Addr{}
	}
	a := p.net.Addr().As4()
	for i := p.net.Bits() / 8; i < 4; i++ {
		a[i] = 255
	}
	return netip.AddrFrom4(a)
}

// Match reports whether addr, an IPv4 address (or one mapped into IPv6),
// fits the mask.
func (p Pattern) Match(addr netip.Addr) bool {
	return p.net.IsValid() && p.net.Contains(addr.Unmap())
}

// String gives the pattern back in ppservers form, port included.
func (p Pattern) String() string {
	if !p.net.IsValid() {
		return "<no pattern>"
	}
	octets := []string{"*"}
	if p.net.Bits() > 0 {
		octets = []string{"*", "*", "*", "*"}
		a := p.net.Addr().As4()
		for i := range p.net.Bits() / 8 {
			octets[i] = strconv.Itoa(int(a[i]))
		}
	}
	return fmt.Sprintf("%s:%d", strings.Join(octets, "."), p.port)
}
