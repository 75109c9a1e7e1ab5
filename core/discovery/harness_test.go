package discovery

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"
)

// Tests send to loopback only: testBroadcast reaches the sockets bound on
// the wildcard address of this host and nothing else.
const testBroadcast = "127.255.255.255"

// waitFor bounds every wait in these tests.
const waitFor = 2 * time.Second

// testPort gives a UDP port that was free a moment ago. It skips the test
// where broadcasts to testBroadcast do not come back, as on Linux they do.
func testPort(t *testing.T) int {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("needs Linux's loopback broadcast")
	}
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// loopbackPattern matches this host and broadcasts to testBroadcast.
func loopbackPattern(t *testing.T, port int) Pattern {
	t.Helper()
	p, err := ParsePattern(fmt.Sprintf("127.*.*.*:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// goRun runs fn on a goroutine and returns a stop function that cancels
// its context and checks that fn returns nil, promptly. Cleanup stops it
// too.
func goRun(t *testing.T, fn func(context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	stop = sync.OnceFunc(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("returned %v after cancel, want nil", err)
			}
		case <-time.After(500 * time.Millisecond):
			t.Errorf("still running 500ms after cancel")
		}
	})
	t.Cleanup(stop)
	return stop
}

// announce runs an announcer that broadcasts to loopback only.
func announce(t *testing.T, cfg AnnounceConfig) (stop func()) {
	t.Helper()
	if cfg.Broadcast != testBroadcast {
		t.Fatalf("test announcer broadcasts to %q, want %s", cfg.Broadcast, testBroadcast)
	}
	if cfg.Interval == 0 {
		cfg.Interval = time.Minute // so only an answer to a probe can be heard
	}
	cfg.Secret = cmp.Or(cfg.Secret, testSecret)
	return goRun(t, func(ctx context.Context) error { return Announce(ctx, cfg) })
}

// probe runs a prober that broadcasts to loopback only, and returns what
// it finds.
func probe(t *testing.T, cfg ProbeConfig) (found <-chan netip.AddrPort, stop func()) {
	t.Helper()
	if dst := cmp.Or(cfg.Broadcast, cfg.Pattern.Broadcast().String()); dst != testBroadcast {
		t.Fatalf("test prober broadcasts to %q, want %s", dst, testBroadcast)
	}
	cfg.Secret = cmp.Or(cfg.Secret, testSecret)
	ch := make(chan netip.AddrPort, 1000)
	stop = goRun(t, func(ctx context.Context) error {
		return Probe(ctx, cfg, func(a netip.AddrPort) {
			select {
			case ch <- a:
			default: // a slow test must not stall the prober
			}
		})
	})
	return ch, stop
}

// waitFound waits until found has given every one of want, and fails on
// anything else.
func waitFound(t *testing.T, found <-chan netip.AddrPort, want ...netip.AddrPort) {
	t.Helper()
	missing := make(map[netip.AddrPort]bool)
	for _, a := range want {
		missing[a] = true
	}
	deadline := time.After(waitFor)
	for len(missing) > 0 {
		select {
		case a := <-found:
			if !contains(want, a) {
				t.Fatalf("found %v, want only %v", a, want)
			}
			delete(missing, a)
		case <-deadline:
			t.Fatalf("not found within %v: %v", waitFor, missing)
		}
	}
}

func contains(as []netip.AddrPort, a netip.AddrPort) bool {
	for _, b := range as {
		if a == b {
			return true
		}
	}
	return false
}

// peer is a bare socket on the discovery port, to speak the protocol by
// hand.
type peer struct {
	t     *testing.T
	conn  *net.UDPConn
	dst   netip.AddrPort
	stamp uint64 // of the last announcement sent
}

func newPeer(t *testing.T, port int) *peer {
	t.Helper()
	c, err := listen(context.Background(), fmt.Sprintf("0.0.0.0:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &peer{t: t, conn: c, dst: netip.AddrPortFrom(netip.MustParseAddr(testBroadcast), uint16(port))}
}

func (p *peer) send(datagram string) {
	p.t.Helper()
	if _, err := p.conn.WriteToUDPAddrPort([]byte(datagram), p.dst); err != nil {
		p.t.Fatal(err)
	}
}

// announce sends an announcement of node signed under secret, with a
// stamp past the last one this peer sent.
func (p *peer) announce(secret, node string) message {
	p.t.Helper()
	p.stamp = max(uint64(time.Now().UnixMilli()), p.stamp+1)
	m := signed(secret, node, p.stamp)
	p.send(m.String())
	return m
}

// awaitAnnouncement reads until an announcement of node signed under
// testSecret arrives, and returns its source.
func (p *peer) awaitAnnouncement(node netip.AddrPort) netip.AddrPort {
	p.t.Helper()
	_, from := p.nextAnnouncement(node)
	return from
}

// nextAnnouncement reads until an announcement of node signed under
// testSecret arrives, and returns it and its source.
func (p *peer) nextAnnouncement(node netip.AddrPort) (message, netip.AddrPort) {
	p.t.Helper()
	p.conn.SetReadDeadline(time.Now().Add(waitFor))
	s := newSigner([]byte(testSecret))
	buf := make([]byte, 1500)
	for {
		n, from, err := p.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			p.t.Fatalf("waiting for an announcement of %v: %v", node, err)
		}
		m, why := parseMessage(buf[:n])
		if why == ok && m.kind == kindServer && m.addr == node && s.verify(&m, buf[:n]) {
			return m, from
		}
	}
}

// await reads until a datagram equal to want arrives, and returns its
// source.
func (p *peer) await(want string) netip.AddrPort {
	p.t.Helper()
	p.conn.SetReadDeadline(time.Now().Add(waitFor))
	buf := make([]byte, 1500)
	for {
		n, from, err := p.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			p.t.Fatalf("waiting for %q: %v", want, err)
		}
		if string(buf[:n]) == want {
			return from
		}
	}
}
