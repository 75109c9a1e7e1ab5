package jobserver

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ppgo/ppgo/core/internal/fakeworker"
	"github.com/ppgo/ppgo/core/remote"
)

// Discovery tests broadcast to loopback only.
const testBroadcast = "127.255.255.255"

// announcer speaks the discovery protocol by hand, as core/discovery's
// doc.go describes it, from a socket sharing the client's discovery port.
type announcer struct {
	t     *testing.T
	conn  *net.UDPConn
	dst   netip.AddrPort
	stamp uint64
}

// discoverClient is a client (no local workers) discovering on a fresh
// loopback port, and a hand-driven announcer on that port that has heard
// the client's first probe.
func discoverClient(t *testing.T, secret string) (*Server, *announcer) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("needs Linux's loopback broadcast")
	}
	probe, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	port := probe.LocalAddr().(*net.UDPAddr).Port
	probe.Close()
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		c.Control(func(fd uintptr) {
			if err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err == nil {
				err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_BROADCAST, 1)
			}
		})
		return err
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp4", fmt.Sprintf("0.0.0.0:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	a := &announcer{t: t, conn: pc.(*net.UDPConn), dst: netip.MustParseAddrPort(fmt.Sprintf("%s:%d", testBroadcast, port))}

	s := newClient(t, 0, secret)
	if err := s.Discover(fmt.Sprintf("127.*.*.*:%d", port), testBroadcast); err != nil {
		t.Fatal(err)
	}
	// The client is listening once it has probed. Any version's probe
	// will do, so that this waits the same for every version.
	a.conn.SetReadDeadline(time.Now().Add(deadline))
	buf := make([]byte, 256)
	for {
		n, _, err := a.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("no probe from the client: %v", err)
		}
		if strings.HasPrefix(string(buf[:n]), "ppgo-discovery ") && strings.HasSuffix(string(buf[:n]), " C") {
			return s, a
		}
	}
}

func (a *announcer) send(datagram string) {
	a.t.Helper()
	if _, err := a.conn.WriteToUDPAddrPort([]byte(datagram), a.dst); err != nil {
		a.t.Fatal(err)
	}
}

// announcement is an announcement of node with a stamp past the last one,
// signed under secret: HMAC-SHA256 of the datagram up to the MAC, keyed
// with HMAC-SHA256(secret, the key label), truncated to 16 bytes, in hex.
func (a *announcer) announcement(secret, node string) string {
	a.stamp = max(uint64(time.Now().UnixMilli()), a.stamp+1)
	n := netip.MustParseAddrPort(node)
	key := hmac.New(sha256.New, []byte(secret))
	key.Write([]byte("ppgo discovery announcement key v2"))
	mac := hmac.New(sha256.New, key.Sum(nil))
	body := fmt.Sprintf("ppgo-discovery 2 S %s %d %d", n.Addr(), n.Port(), a.stamp)
	mac.Write([]byte(body))
	return body + " " + hex.EncodeToString(mac.Sum(nil)[:16])
}

// remoteNames lists the client's remote nodes.
func remoteNames(s *Server) []string {
	var names []string
	for _, n := range s.Nodes()[1:] {
		names = append(names, n.Name)
	}
	return names
}

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	return ln.Addr().String()
}

// TestDiscoveryIgnoresSpoofedAnnouncements: thousands of announcements
// that are unauthenticated (version 1), signed under another secret,
// tampered with, or replayed add no node; the authentic ones sent before
// and after them do. Each spoofed announcement used to become a node.
func TestDiscoveryIgnoresSpoofedAnnouncements(t *testing.T) {
	s, a := discoverClient(t, nodeSecret)
	real := launchNode(t, "", 1, nodeSecret)
	captured := a.announcement(nodeSecret, real.addr)
	a.send(captured)

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	goroutines := runtime.NumGoroutine()
	const flood = 5000
	for i := range flood {
		node := fmt.Sprintf("127.0.%d.%d:%d", 1+i%200, 1+i/200, 1024+i)
		switch i % 4 {
		case 0:
			a.send(fmt.Sprintf("ppgo-discovery 1 S %d", 1024+i))
		case 1:
			a.send(a.announcement("not the secret", node))
		case 2:
			a.send(tamper(a.announcement(nodeSecret, node)))
		case 3:
			a.send(captured)
		}
	}
	// The socket may have dropped some of what came before: announce the
	// real node, and one after the flood, until both are there.
	last := closedPort(t) // it need not be up
	fakeworker.Eventually(t, deadline, "the authentic nodes added", func() bool {
		a.send(a.announcement(nodeSecret, real.addr))
		a.send(a.announcement(nodeSecret, last))
		names := remoteNames(s)
		for _, n := range names {
			if n != real.addr && n != last {
				t.Fatalf("a spoofed announcement became node %s, one of %d remote nodes", n, len(names))
			}
		}
		return len(names) == 2
	})
	waitNode(t, s, real.addr, "connected", connected(2))
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	t.Logf("after %d spoofed announcements: %d remote nodes, heap %+.1f MB, stacks %+.1f MB, goroutines %+d",
		flood, len(remoteNames(s)), float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/1e6,
		float64(int64(after.StackInuse)-int64(before.StackInuse))/1e6, runtime.NumGoroutine()-goroutines)
	waitEvent(t, s, "discovery: ignored")
}

// tamper changes the last digit of an announcement's MAC.
func tamper(datagram string) string {
	last := byte('0')
	if datagram[len(datagram)-1] == last {
		last = '1'
	}
	return datagram[:len(datagram)-1] + string(last)
}

// TestDiscoveryCapsNodes: authentic announcements of more nodes than
// MaxDiscoveredNodes add that many, and a warning says so, once.
func TestDiscoveryCapsNodes(t *testing.T) {
	s, a := discoverClient(t, nodeSecret)
	const over = 20
	var nodes []string
	for i := range MaxDiscoveredNodes + over {
		nodes = append(nodes, fmt.Sprintf("127.0.%d.%d:%d", 1+i/200, 1+i%200, 1024+i))
	}
	fakeworker.Eventually(t, deadline, "the cap reached", func() bool {
		for i, n := range nodes {
			a.send(a.announcement(nodeSecret, n))
			if i%50 == 49 {
				time.Sleep(time.Millisecond) // let the client keep up with the socket
			}
		}
		return len(remoteNames(s)) >= MaxDiscoveredNodes
	})
	// Datagrams on loopback keep their order: once the client has
	// reported this one, it has handled everything before.
	a.send(a.announcement("not the secret", nodes[0]))
	var warnings []string
	for {
		e := waitEvent(t, s, "") // the next one
		if strings.Contains(e.Message, "discovery: ignored") {
			break
		}
		if strings.Contains(e.Message, "autodiscovery found more than") {
			warnings = append(warnings, e.Message)
		}
	}
	if got := len(remoteNames(s)); got != MaxDiscoveredNodes {
		t.Fatalf("%d discovered nodes, want the cap, %d", got, MaxDiscoveredNodes)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], fmt.Sprint(MaxDiscoveredNodes)) ||
		!strings.Contains(warnings[0], "name further nodes in ppservers") {
		t.Fatalf("cap warnings %q, want one naming the cap and what to do", warnings)
	}
}

// TestDiscoveredNodeRefusingIsDropped: a node announced under the client's
// secret that refuses the client (it was given another secret) is dialled
// once, dropped, and not dialled again at each of the announcements that
// keep coming, only once the backoff (remote.DefaultDropMin) has passed.
func TestDiscoveredNodeRefusingIsDropped(t *testing.T) {
	s, a := discoverClient(t, nodeSecret)
	nd := launchNode(t, "", 1, "the node's own secret")
	fakeworker.Eventually(t, deadline, "the node dialled", func() bool {
		a.send(a.announcement(nodeSecret, nd.addr))
		return nd.srv.Stats().AuthFailures > 0
	})
	// Within this, one more dial is allowed: the backoff has passed.
	window := remote.DefaultDropMin + remote.DefaultDropMin/2
	for start := time.Now(); time.Since(start) < window; {
		a.send(a.announcement(nodeSecret, nd.addr))
		time.Sleep(5 * time.Millisecond) // announcements keep coming, ~300 of them
	}
	if got := nd.srv.Stats().AuthFailures; got > 2 {
		t.Fatalf("%d refused handshakes in %v of announcements every 5ms, want at most 2", got, window)
	}
	e := waitEvent(t, s, nd.addr, "wrong secret")
	if !strings.Contains(e.Message, "dropped") {
		t.Errorf("event %q does not say the node is dropped", e.Message)
	}
	if info := nodeInfo(t, s, nd.addr); info.Connected || info.Capacity != 0 {
		t.Errorf("refusing node: %+v", info)
	}
}
