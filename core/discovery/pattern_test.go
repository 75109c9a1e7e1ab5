package discovery

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func TestParsePattern(t *testing.T) {
	tests := []struct {
		entry     string
		str       string // Pattern.String
		port      int
		broadcast string
		match     []string
		noMatch   []string
	}{
		{entry: "*", str: "*:60000", port: 60000, broadcast: "255.255.255.255",
			match: []string{"10.0.0.1", "127.0.0.1", "255.255.255.255", "::ffff:192.168.1.2"}, noMatch: []string{"::1", "fe80::1"}},
		{entry: "*:35000", str: "*:35000", port: 35000, broadcast: "255.255.255.255", match: []string{"192.168.1.2"}},
		{entry: "*.*.*.*", str: "*:60000", port: 60000, broadcast: "255.255.255.255", match: []string{"1.2.3.4"}},
		{entry: "10.0.*.*", str: "10.0.*.*:60000", port: 60000, broadcast: "10.0.255.255",
			match: []string{"10.0.0.1", "10.0.255.254", "::ffff:10.0.3.4"}, noMatch: []string{"10.1.0.1", "11.0.0.1", "::1"}},
		{entry: "10.0.*.*:1", str: "10.0.*.*:1", port: 1, broadcast: "10.0.255.255", match: []string{"10.0.9.9"}},
		{entry: "192.168.1.*:65535", str: "192.168.1.*:65535", port: 65535, broadcast: "192.168.1.255",
			match: []string{"192.168.1.0", "192.168.1.255"}, noMatch: []string{"192.168.2.1"}},
		{entry: "127.*.*.*", str: "127.*.*.*:60000", port: 60000, broadcast: "127.255.255.255",
			match: []string{"127.0.0.1"}, noMatch: []string{"128.0.0.1"}},
		{entry: "0.*.*.*", str: "0.*.*.*:60000", port: 60000, broadcast: "0.255.255.255", match: []string{"0.1.2.3"}},
	}
	for _, tt := range tests {
		p, err := ParsePattern(tt.entry)
		if err != nil {
			t.Errorf("ParsePattern(%q): %v", tt.entry, err)
			continue
		}
		if p.String() != tt.str || p.Port() != tt.port || p.Broadcast().String() != tt.broadcast {
			t.Errorf("ParsePattern(%q) = %s port %d broadcast %s; want %s port %d broadcast %s",
				tt.entry, p, p.Port(), p.Broadcast(), tt.str, tt.port, tt.broadcast)
		}
		for _, a := range tt.match {
			if !p.Match(netip.MustParseAddr(a)) {
				t.Errorf("%q does not match %s", tt.entry, a)
			}
		}
		for _, a := range tt.noMatch {
			if p.Match(netip.MustParseAddr(a)) {
				t.Errorf("%q matches %s", tt.entry, a)
			}
		}
		if !IsPattern(tt.entry) {
			t.Errorf("IsPattern(%q) = false", tt.entry)
		}
	}
}

func TestParsePatternErrors(t *testing.T) {
	for _, entry := range []string{
		"", ":60000", "*:", "*:0", "*:65536", "*:http", "*:-1", "*:1:2",
		"10.0.*", "10.0.*.*.*", "*.0.0.1", "10.*.0.*", "10.0.0.1", "10.0.0.1:60000",
		"256.*.*.*", "010.*.*.*", "1x.*.*.*", "+1.*.*.*", ".*.*.*", "10.0.**.*", "10.0.1*.*",
		"[::]:60000", "::*", "host*", "*.example.com",
	} {
		p, err := ParsePattern(entry)
		if err == nil {
			t.Errorf("ParsePattern(%q) = %s, want an error", entry, p)
			continue
		}
		if want := fmt.Sprintf("ppservers entry %q: ", entry); !strings.HasPrefix(err.Error(), want) {
			t.Errorf("ParsePattern(%q) error %q does not start %q", entry, err, want)
		}
	}
}

// IPv6 patterns get an error that says so, not one about ports or octets;
// an IPv4 pattern with a bad port is still about its port.
func TestParsePatternIPv6(t *testing.T) {
	for _, tt := range []struct {
		entry string
		ipv6  bool
	}{
		{"::*", true},
		{"[::*]:60000", true},
		{"[::]:60000", true},
		{"fe80::*", true},
		{"fe80:0:0:0:0:0:0:*", true},
		{"fe80:*:*:*:*:*:*:*:5", true},
		{"*:1:2", false},
		{"10.0.*.*:1:2", false},
		{"*:http", false},
	} {
		_, err := ParsePattern(tt.entry)
		if err == nil {
			t.Errorf("ParsePattern(%q) succeeded", tt.entry)
			continue
		}
		if got := strings.Contains(err.Error(), "IPv4 only"); got != tt.ipv6 {
			t.Errorf("ParsePattern(%q) error %q: says IPv4 only = %v, want %v", tt.entry, err, got, tt.ipv6)
		}
	}
}

func TestIsPattern(t *testing.T) {
	for entry, want := range map[string]bool{"*": true, "10.0.*.*:5": true, "10.0.0.1": false, "node1:60000": false} {
		if got := IsPattern(entry); got != want {
			t.Errorf("IsPattern(%q) = %v", entry, got)
		}
	}
}

func TestZeroPatternMatchesNothing(t *testing.T) {
	var p Pattern
	if p.Match(netip.MustParseAddr("127.0.0.1")) || p.Port() != 0 {
		t.Errorf("zero Pattern matches or has a port")
	}
}
