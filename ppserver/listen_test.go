package main

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestListen: -i takes IPv4 and IPv6 addresses, bare as parseInterface
// leaves them; "::" is dual stack, so IPv4 clients reach it too. Only
// loopback addresses are dialled, and nothing is served: the listeners
// accept nothing and close at once.
func TestListen(t *testing.T) {
	if probe, err := net.Listen("tcp", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	} else {
		probe.Close()
	}
	tests := []struct {
		host  string
		reach []string // dialled at the listener's port
	}{
		{"127.0.0.1", []string{"127.0.0.1"}},
		{"::1", []string{"::1"}},
		{"::", []string{"::1", "127.0.0.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			ln, err := listen(tt.host, 0)
			if err != nil {
				t.Fatalf("listen(%q): %v", tt.host, err)
			}
			defer ln.Close()
			port := ln.Addr().(*net.TCPAddr).Port
			for _, h := range tt.reach {
				c, err := net.DialTimeout("tcp", net.JoinHostPort(h, strconv.Itoa(port)), 2*time.Second)
				if err != nil {
					t.Errorf("listening on %s: dial %s: %v", tt.host, h, err)
					continue
				}
				c.Close()
			}
		})
	}
}

// TestListenPortInUse names the port and the address, IPv6 too.
func TestListenPortInUse(t *testing.T) {
	taken, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	defer taken.Close()
	port := taken.Addr().(*net.TCPAddr).Port
	ln, err := listen("::1", port)
	if err == nil {
		ln.Close()
		t.Fatalf("listen on a taken port succeeded")
	}
	if want := "port " + strconv.Itoa(port) + " on ::1 is in use"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q, want %q", err, want)
	}
}
