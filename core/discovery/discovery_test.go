package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

var localhost = netip.MustParseAddr("127.0.0.1")

func fast(p Pattern) ProbeConfig {
	return ProbeConfig{Pattern: p, MinInterval: 10 * time.Millisecond, MaxInterval: 40 * time.Millisecond}
}

func TestProbeFindsAnnouncerStartedLater(t *testing.T) {
	t.Parallel()
	port := testPort(t)
	watch := newPeer(t, port)
	found, _ := probe(t, fast(loopbackPattern(t, port)))
	watch.await("ppgo-discovery 1 C") // the prober is running
	announce(t, AnnounceConfig{Port: port, Broadcast: testBroadcast})
	waitFound(t, found, netip.AddrPortFrom(localhost, uint16(port)))
}

// TestProbeFindsAnnouncerStartedEarlier: the announcer's first broadcast
// is gone before the prober binds, so only its answer to a probe can be
// heard.
func TestProbeFindsAnnouncerStartedEarlier(t *testing.T) {
	t.Parallel()
	port := testPort(t)
	watch := newPeer(t, port)
	announce(t, AnnounceConfig{Port: port, TCPPort: 4321, Broadcast: testBroadcast})
	watch.await("ppgo-discovery 1 S 4321")
	found, _ := probe(t, fast(loopbackPattern(t, port)))
	waitFound(t, found, netip.AddrPortFrom(localhost, 4321))
}

func TestTwoAnnouncersOnOnePort(t *testing.T) {
	t.Parallel()
	port := testPort(t)
	announce(t, AnnounceConfig{Port: port, TCPPort: 1111, Broadcast: testBroadcast})
	announce(t, AnnounceConfig{Port: port, TCPPort: 2222, Broadcast: testBroadcast})
	found, _ := probe(t, fast(loopbackPattern(t, port)))
	waitFound(t, found, netip.AddrPortFrom(localhost, 1111), netip.AddrPortFrom(localhost, 2222))
}

// TestProbeReportsEveryAnnouncement: the prober does not dedupe, so a
// node that went away and came back is reported again.
func TestProbeReportsEveryAnnouncement(t *testing.T) {
	t.Parallel()
	port := testPort(t)
	found, _ := probe(t, ProbeConfig{Pattern: loopbackPattern(t, port), MinInterval: time.Minute})
	announce(t, AnnounceConfig{Port: port, Broadcast: testBroadcast, Interval: 20 * time.Millisecond})
	node := netip.AddrPortFrom(localhost, uint16(port))
	for range 3 {
		waitFound(t, found, node)
	}
}

func TestAnnouncerAnswersProbes(t *testing.T) {
	t.Parallel()
	port := testPort(t)
	client := newPeer(t, port)
	announce(t, AnnounceConfig{Port: port, Broadcast: testBroadcast})
	want := fmt.Sprintf("ppgo-discovery 1 S %d", port)
	from := client.await(want)
	if from.Addr() != localhost {
		t.Errorf("announcement from %v, want %v", from, localhost)
	}
	for range 3 {
		client.send("ppgo-discovery 1 C")
		client.await(want)
	}
}

func TestAnnouncerRepeats(t *testing.T) {
	t.Parallel()
	port := testPort(t)
	client := newPeer(t, port)
	announce(t, AnnounceConfig{Port: port, Broadcast: testBroadcast, Interval: 20 * time.Millisecond})
	for range 3 {
		client.await(fmt.Sprintf("ppgo-discovery 1 S %d", port))
	}
}

func TestProberRepeats(t *testing.T) {
	t.Parallel()
	port := testPort(t)
	node := newPeer(t, port)
	probe(t, fast(loopbackPattern(t, port)))
	for range 4 {
		node.await("ppgo-discovery 1 C")
	}
}

// TestAnnounceFromInterface: with an interface chosen, announcements
// leave from its address and probes are still heard, though a socket bound
// to a unicast address hears no broadcasts.
func TestAnnounceFromInterface(t *testing.T) {
	t.Parallel()
	port := testPort(t)
	client := newPeer(t, port)
	announce(t, AnnounceConfig{Interface: "127.0.0.1", Port: port, Broadcast: testBroadcast})
	want := fmt.Sprintf("ppgo-discovery 1 S %d", port)
	if from := client.await(want); from != netip.AddrPortFrom(localhost, uint16(port)) {
		t.Errorf("announcement from %v, want 127.0.0.1:%d", from, port)
	}
	client.send("ppgo-discovery 1 C")
	client.await(want)
}

// TestAnnounceIPv6Interface: a ppserver on IPv6 cannot be announced by
// IPv4 broadcast and is told so at once, but one on the dual-stack
// wildcard "::" announces from the IPv4 wildcard.
func TestAnnounceIPv6Interface(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	for _, iface := range []string{"::1", "fe80::1%lo", "2001:db8::1"} {
		err := Announce(ctx, AnnounceConfig{Interface: iface, Port: 1, Broadcast: testBroadcast})
		if err == nil || !strings.Contains(err.Error(), "IPv4 broadcast only") || !strings.Contains(err.Error(), iface) {
			t.Errorf("Announce from %s: %v, want an error saying discovery is IPv4 only", iface, err)
		}
	}
	port := testPort(t)
	client := newPeer(t, port)
	announce(t, AnnounceConfig{Interface: "::", Port: port, Broadcast: testBroadcast})
	client.await(fmt.Sprintf("ppgo-discovery 1 S %d", port))
}

// garbage is datagrams to ignore; a few almost look right.
var garbage = []string{
	"", "S", "C", "\x00\xff\xfe", "ppgo-discovery 1 S 0", "ppgo-discovery 1 S 65536",
	"ppgo-discovery 2 S 7", "ppgo-discovery 1 S 7 ", "ppgo-discovery 1 S 07", "ppgo-discovery 1 S",
	"ppgo-discovery 1 S 7" + strings.Repeat(" ", 2000), "ppgo-discovery 1 X 7", "ppgo-discovery 2 C",
	"ppgo-discovery 1 C ", "ppgo-discovery 1 S 7\x00", strings.Repeat("ppgo-discovery 1 S 7", 1000),
}

// TestProbeIgnoresGarbage: the prober reports none of the bad
// announcements, which reach it before the good one.
func TestProbeIgnoresGarbage(t *testing.T) {
	t.Parallel()
	port := testPort(t)
	evil := newPeer(t, port)
	found, _ := probe(t, ProbeConfig{Pattern: loopbackPattern(t, port), MinInterval: time.Minute})
	evil.await("ppgo-discovery 1 C") // the prober is listening
	for _, g := range garbage {
		evil.send(g)
	}
	evil.send("ppgo-discovery 1 S 5555")
	waitFound(t, found, netip.AddrPortFrom(localhost, 5555))
}

// TestAnnouncerIgnoresGarbage: fed bad probes, the announcer still answers
// a good one.
func TestAnnouncerIgnoresGarbage(t *testing.T) {
	t.Parallel()
	port := testPort(t)
	evil := newPeer(t, port)
	announce(t, AnnounceConfig{Port: port, TCPPort: 5555, Broadcast: testBroadcast})
	evil.await("ppgo-discovery 1 S 5555")
	for _, g := range garbage {
		evil.send(g)
	}
	evil.send("ppgo-discovery 1 C")
	evil.await("ppgo-discovery 1 S 5555")
}

func TestProbeIgnoresNodesOutsideThePattern(t *testing.T) {
	t.Parallel()
	port := testPort(t)
	p, err := ParsePattern(fmt.Sprintf("10.*.*.*:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	cfg := fast(p)
	cfg.Broadcast = testBroadcast
	node := newPeer(t, port)
	found, _ := probe(t, cfg)
	node.await("ppgo-discovery 1 C") // the prober is listening
	node.send("ppgo-discovery 1 S 5555")
	node.await("ppgo-discovery 1 C") // and has heard it, datagrams on loopback keep their order
	node.await("ppgo-discovery 1 C")
	if len(found) > 0 {
		t.Fatalf("found %v, outside %s", <-found, p)
	}
}

// TestBindError: a port held by a socket that does not share it fails
// both at once, naming the address.
func TestBindError(t *testing.T) {
	t.Parallel()
	hog, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer hog.Close()
	port := hog.LocalAddr().(*net.UDPAddr).Port
	want := fmt.Sprintf("discovery: listen on udp 0.0.0.0:%d: ", port)
	// Bounded, should a bind wrongly succeed.
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	for name, run := range map[string]func() error{
		"Announce": func() error { return Announce(ctx, AnnounceConfig{Port: port, Broadcast: testBroadcast}) },
		"Probe":    func() error { return Probe(ctx, fast(loopbackPattern(t, port)), func(netip.AddrPort) {}) },
	} {
		err := run()
		if err == nil || !strings.HasPrefix(err.Error(), want) || !errors.Is(err, syscall.EADDRINUSE) {
			t.Errorf("%s on a held port: %v, want %q... wrapping EADDRINUSE", name, err, want)
		}
	}
	// An interface this host does not have.
	err = Announce(ctx, AnnounceConfig{Interface: "192.0.2.77", Port: testPort(t), Broadcast: testBroadcast})
	if err == nil || !strings.Contains(err.Error(), "192.0.2.77") {
		t.Errorf("Announce from a foreign interface: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	// Bounded, should a bad configuration wrongly start.
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	p := loopbackPattern(t, testPort(t))
	nop := func(netip.AddrPort) {}
	for name, err := range map[string]error{
		"bad broadcast":   Announce(ctx, AnnounceConfig{Broadcast: "127.255.255"}),
		"IPv6 broadcast":  Announce(ctx, AnnounceConfig{Broadcast: "::1"}),
		"IPv6 interface":  Announce(ctx, AnnounceConfig{Interface: "::1", Broadcast: testBroadcast}),
		"port":            Announce(ctx, AnnounceConfig{Port: 70000, Broadcast: testBroadcast}),
		"TCP port":        Announce(ctx, AnnounceConfig{TCPPort: -1, Broadcast: testBroadcast}),
		"interval":        Announce(ctx, AnnounceConfig{Interval: -time.Second, Broadcast: testBroadcast}),
		"no pattern":      Probe(ctx, ProbeConfig{}, nop),
		"no found":        Probe(ctx, ProbeConfig{Pattern: p}, nil),
		"min over max":    Probe(ctx, ProbeConfig{Pattern: p, MinInterval: time.Second, MaxInterval: time.Millisecond}, nop),
		"negative min":    Probe(ctx, ProbeConfig{Pattern: p, MinInterval: -1}, nop),
		"probe broadcast": Probe(ctx, ProbeConfig{Pattern: p, Broadcast: "nowhere"}, nop),
	} {
		if err == nil || !strings.HasPrefix(err.Error(), "discovery: ") {
			t.Errorf("%s: %v, want a discovery error", name, err)
		}
	}
}

func TestCancelledBeforeStart(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Announce(ctx, AnnounceConfig{Port: testPort(t), Broadcast: testBroadcast}); err != nil {
		t.Errorf("Announce: %v", err)
	}
	if err := Probe(ctx, fast(loopbackPattern(t, testPort(t))), func(netip.AddrPort) {}); err != nil {
		t.Errorf("Probe: %v", err)
	}
}

// TestNoGoroutineLeak runs alone (not parallel), so the count is its own.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	port := testPort(t)
	found, stopProbe := probe(t, fast(loopbackPattern(t, port)))
	stopAnnounce := announce(t, AnnounceConfig{Port: port, Broadcast: testBroadcast})
	waitFound(t, found, netip.AddrPortFrom(localhost, uint16(port)))
	stopAnnounce() // each checks that it returned promptly
	stopProbe()
	deadline := time.Now().Add(waitFor)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(time.Millisecond)
	}
}
