package jobserver

import (
	"net"
	"strings"
	"testing"

	"github.com/ppgo/ppgo/core/sched"
)

func TestCheckAddr(t *testing.T) {
	tests := []struct {
		addr string
		err  string // "" when valid; else a part of the error
	}{
		{"127.0.0.1:35000", ""},
		{"node1:60000", ""},
		{"[::1]:35000", ""},
		{"[fe80::1%eth0]:1", ""},
		{"[::ffff:10.0.0.1]:65535", ""},

		{"::1:35000", "too many colons"},
		{"fe80::1", "too many colons"},
		{"[::1]", "missing port"},
		{"node1", "missing port"},
		{"[::1:35000", "missing ']'"},
		{":35000", "no host"},
		{"[]:35000", "no host"},
		{"node1:0", "1 to 65535"},
		{"node1:65536", "1 to 65535"},
		{"node1:http", "1 to 65535"},
		{"node1:", "1 to 65535"},
	}
	for _, tt := range tests {
		err := checkAddr(tt.addr)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("checkAddr(%q) = %v, want nil", tt.addr, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("checkAddr(%q) = %v, want an error with %q", tt.addr, err, tt.err)
		}
	}
}

// An unbracketed IPv6 address is refused by Connect, naming it, and adds
// no node that would redial it forever.
func TestConnectRefusesUnusableAddress(t *testing.T) {
	s := newClient(t, 0, nodeSecret)
	err := s.Connect("::1:35000")
	if err == nil || !strings.Contains(err.Error(), `"::1:35000"`) {
		t.Fatalf("Connect(::1:35000) = %v, want an error naming the address", err)
	}
	if nodes := s.Nodes(); len(nodes) != 1 {
		t.Errorf("Nodes = %+v, want the local pool only", nodes)
	}
}

// A node listening on IPv6 loopback runs jobs and is named by its
// bracketed address, as get_active_nodes shows it.
func TestRemoteJobsRunOnIPv6Node(t *testing.T) {
	probe, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	probe.Close()
	nd := launchNode(t, "[::1]:0", 2, nodeSecret)
	if !strings.HasPrefix(nd.addr, "[::1]:") {
		t.Fatalf("node address %q is not [::1]:port", nd.addr)
	}
	s := newClient(t, 0, nodeSecret, nd.addr)
	s.Register(1, []byte("src"))
	ids := []uint64{submit(t, s, 1, "a", "", false), submit(t, s, 1, "b", "", false)}
	for _, id := range ids {
		result(t, s, id, sched.StatusDone)
	}
	if n := nodeInfo(t, s, nd.addr); !n.Connected || n.Workers != 2 || n.Jobs != 2 {
		t.Errorf("node %s: %+v", nd.addr, n)
	}
	waitEvent(t, s, "connected to ppserver "+nd.addr)
}
