package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	watch.await("ppgo-discovery 2 C") // the prober is running
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
	watch.awaitAnnouncement(netip.AddrPortFrom(localhost, 4321))
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
	node := netip.AddrPortFrom(localhost, uint16(port))
	if from := client.awaitAnnouncement(node); from.Addr() != localhost {
		t.Errorf("announcement from %v, want %v", from, localhost)
	}
	for range 3 {
		client.send("ppgo-discovery 2 C")
		client.awaitAnnouncement(node)
	}
}

func TestAnnouncerRepeats(t *testing.T) {
	t.Parallel()
	port := testPort(t)
	client := newPeer(t, port)
	announce(t, AnnounceConfig{Port: port, Broadcast: testBroadcast, Interval: 20 * time.Millisecond})
	var last uint64
	for range 3 {
		m, _ := client.nextAnnouncement(netip.AddrPortFrom(localhost, uint16(port)))
		if m.stamp <= last {
			t.Fatalf("stamp %d after %d: an announcer's stamps must rise", m.stamp, last)
		}
		if now := uint64(time.Now().UnixMilli()); m.stamp > now {
			t.Errorf("stamp %d is ahead of the clock, %d", m.stamp, now)
		}
		last = m.stamp
	}
}

func TestProberRepeats(t *testing.T) {
	t.Parallel()
	port := testPort(t)
	node := newPeer(t, port)
	probe(t, fast(loopbackPattern(t, port)))
	for range 4 {
		node.await("ppgo-discovery 2 C")
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
	node := netip.AddrPortFrom(localhost, uint16(port))
	if from := client.awaitAnnouncement(node); from != node {
		t.Errorf("announcement from %v, want 127.0.0.1:%d", from, port)
	}
	client.send("ppgo-discovery 2 C")
	client.awaitAnnouncement(node)
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
	client.awaitAnnouncement(netip.AddrPortFrom(localhost, uint16(port)))
}

// garbage is datagrams to ignore, as neither announcements nor probes; a
// few almost look right, and some were right in version 1.
var garbage = []string{
	"", "S", "C", "\x00\xff\xfe", "ppgo-discovery 1 S 5555", "ppgo-discovery 1 C", "ppgo-discovery 1 S 0",
	"ppgo-discovery 2 S 5555", "ppgo-discovery 2 S 127.0.0.1 5555", "ppgo-discovery 2 C ", "ppgo-discovery 2 X",
	"ppgo-discovery 2 S 127.0.0.1 5555 1", "ppgo-discovery 2 C\x00", "ppgo-discovery 2 C" + strings.Repeat(" ", 2000),
	strings.Repeat("ppgo-discovery 2 C", 1000),
	signed(testSecret, "127.0.0.1:5555", uint64(time.Now().UnixMilli())).String() + " ", // but for the space
}

// TestProbeIgnoresGarbage: the prober reports none of the bad
// announcements, which reach it before the good one.
func TestProbeIgnoresGarbage(t *testing.T) {
	t.Parallel()
	port := testPort(t)
	evil := newPeer(t, port)
	found, _ := probe(t, ProbeConfig{Pattern: loopbackPattern(t, port), MinInterval: time.Minute})
	evil.await("ppgo-discovery 2 C") // the prober is listening
	for _, g := range garbage {
		evil.send(g)
	}
	evil.announce("another secret", "127.0.0.2:5555")
	evil.announce(testSecret, "127.0.0.1:5555")
	waitFound(t, found, netip.AddrPortFrom(localhost, 5555))
}

// TestAnnouncerIgnoresGarbage: fed bad probes, the announcer still answers
// a good one.
func TestAnnouncerIgnoresGarbage(t *testing.T) {
	t.Parallel()
	port := testPort(t)
	evil := newPeer(t, port)
	announce(t, AnnounceConfig{Port: port, TCPPort: 5555, Broadcast: testBroadcast})
	node := netip.AddrPortFrom(localhost, 5555)
	evil.awaitAnnouncement(node)
	for _, g := range garbage {
		evil.send(g)
	}
	evil.send("ppgo-discovery 2 C")
	evil.awaitAnnouncement(node)
}

// TestProbeIgnoresNodesOutsideThePattern: the pattern applies to the
// address an announcement names, which is what a client connects to.
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
	node.await("ppgo-discovery 2 C") // the prober is listening
	node.announce(testSecret, "127.0.0.1:5555")
	node.announce(testSecret, "11.0.0.1:5555")
	node.announce(testSecret, "10.1.2.3:5555") // only a text: nothing is sent there
	waitFound(t, found, netip.MustParseAddrPort("10.1.2.3:5555"))
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

// TestProbeFloodOverLoopback: thousands of forged, replayed and
// version-1 announcements over loopback find nothing, and the prober says
// so in one log line, not one per datagram. The authentic announcement
// sent after them is found, so the prober was listening throughout.
func TestProbeFloodOverLoopback(t *testing.T) {
	t.Parallel()
	port := testPort(t)
	evil := newPeer(t, port)
	rec := &recorder{}
	cfg := ProbeConfig{Pattern: loopbackPattern(t, port), MinInterval: time.Minute, Logger: slog.New(rec)}
	found, _ := probe(t, cfg)
	evil.await("ppgo-discovery 2 C") // the prober is listening
	real := evil.announce(testSecret, "127.0.0.1:5555")
	waitFound(t, found, real.addr)
	older := signed(testSecret, real.addr.String(), real.stamp-1)
	const flood = 5000
	for i := range flood {
		node := fmt.Sprintf("127.0.%d.%d:%d", 1+i%200, 1+i/200, 1024+i)
		switch i % 4 {
		case 0:
			evil.announce("another secret", node)
		case 1: // replays, of the last one accepted and of an older one
			evil.send(real.String())
			evil.send(older.String())
		case 2:
			forged := signed(testSecret, node, real.stamp+uint64(i))
			forged.mac = real.mac
			evil.send(forged.String())
		case 3:
			evil.send(fmt.Sprintf("ppgo-discovery 1 S %d", 1024+i))
		}
	}
	// The socket may have dropped some of the flood, and would drop this
	// too: say it until it is heard.
	last := netip.MustParseAddrPort("127.0.0.1:6666")
	deadline := time.After(waitFor)
	for heard := false; !heard; {
		evil.announce(testSecret, last.String())
		select {
		case a := <-found:
			if a != last {
				t.Fatalf("found %v after a flood of forgeries", a)
			}
			heard = true
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%v not found within %v of the flood", last, waitFor)
		}
	}
	for len(found) > 0 {
		if a := <-found; a != last {
			t.Fatalf("found %v after a flood of forgeries", a)
		}
	}
	if msgs, levels := rec.matching("discovery: ignored"); len(msgs) != 1 || levels[0] != slog.LevelWarn ||
		!strings.Contains(msgs[0], "failing authentication") {
		t.Errorf("log lines about ignored datagrams %q (%v), want one warning about failed authentication "+
			"(the first at once, the rest a minute later)", msgs, levels)
	}
}
