package discovery

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"
)

// AnnounceConfig describes a ppserver announcing itself.
type AnnounceConfig struct {
	// Interface is the address to send from, which clients will connect
	// to; "" sends from whatever address the route to Broadcast gives.
	// Broadcasts are heard on every interface either way.
	Interface string
	// Port is the UDP port listened on, and the TCP port announced
	// unless TCPPort says otherwise; 0 means DefaultPort.
	Port int
	// TCPPort is the TCP port announced, when not Port: for a node
	// behind a port mapping, or for tests running several announcers on
	// one discovery port.
	TCPPort int
	// Broadcast is where announcements go; "" means DefaultBroadcast.
	Broadcast string
	// Interval is the longest time between two announcements; 0 means
	// DefaultAnnounceInterval.
	Interval time.Duration
	// Secret is the shared secret clients connect with; announcements are
	// signed with a key derived from it, and clients ignore those they
	// cannot verify. A ppserver without a secret of its own passes
	// legacy pp's default, which its clients use too.
	Secret string
	// Logger gets what is sent and heard at Debug level; nil discards.
	Logger *slog.Logger
}

// Announce tells clients on the network that a ppserver accepts
// connections on cfg.TCPPort at this host: it broadcasts at once, when
// asked by a probe, and every cfg.Interval. Each announcement names the
// address it is sent from (cfg.Interface's, else the one the route to
// the broadcast address leaves by) and is signed under cfg.Secret. It returns an error at once if
// the configuration is bad or the port cannot be bound, and nil once ctx
// is done.
func Announce(ctx context.Context, cfg AnnounceConfig) error {
	port := cmp.Or(cfg.Port, DefaultPort)
	tcpPort := cmp.Or(cfg.TCPPort, port)
	interval := cmp.Or(cfg.Interval, DefaultAnnounceInterval)
	switch {
	case port < 1 || port > 65535:
		return fmt.Errorf("discovery: port %d out of range", cfg.Port)
	case tcpPort < 1 || tcpPort > 65535:
		return fmt.Errorf("discovery: TCP port %d out of range", cfg.TCPPort)
	case interval < 0:
		return fmt.Errorf("discovery: negative announce interval %v", interval)
	}
	dst, err := broadcastAddr(cfg.Broadcast, netip.MustParseAddr(DefaultBroadcast))
	if err != nil {
		return err
	}
	if err := checkInterface(cfg.Interface); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return nil
	}
	e, err := openEndpoint(ctx, cfg.Interface, port, netip.AddrPortFrom(dst, uint16(port)), logger(cfg.Logger))
	if err != nil {
		return err
	}
	a := &announcer{
		e:      e,
		signer: newSigner([]byte(cfg.Secret)),
		port:   uint16(tcpPort),
		sched:  announceSchedule{interval: interval},
	}
	if e.send != e.recv {
		// Bound to the interface: its address, resolved once by the bind.
		a.from = e.send.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
	}
	return e.run(ctx, a)
}

// checkInterface refuses an IPv6 address to announce from: the protocol
// is IPv4 broadcast, which IPv6 lacks, and a node on ::1 alone cannot be
// reached at the IPv4 address an announcement would carry. The wildcard
// "::" is fine: it takes IPv4 connections too (dual stack), and the
// announcements leave from the IPv4 wildcard.
func checkInterface(iface string) error {
	ip, err := netip.ParseAddr(iface)
	if err != nil || ip.Unmap().Is4() || ip.IsUnspecified() {
		return nil // a host name is left to the bind, which reports it
	}
	return fmt.Errorf("discovery: cannot announce from %s: autodiscovery is IPv4 broadcast only; "+
		"clients name this node by address instead, as in [%s]:port", iface, iface)
}

type announcer struct {
	e      *endpoint
	signer *signer
	port   uint16     // the TCP port announced
	from   netip.Addr // the interface's address; invalid: ask the route each time
	stamp  uint64     // of the last announcement
	sched  announceSchedule
}

func (a *announcer) tick(now time.Time) time.Time {
	if a.sched.due(now) {
		a.announce(now)
		a.sched.sent(now)
	}
	return a.sched.next()
}

// announce signs and broadcasts an announcement. Its stamp is the time,
// but always past the last one, so that a prober that heard one can
// refuse every replay of it and of those before it, even if this clock
// steps back.
func (a *announcer) announce(now time.Time) {
	a.stamp = max(uint64(max(now.UnixMilli(), 0)), a.stamp+1)
	m := message{kind: kindServer, stamp: a.stamp}
	from := a.from
	if !from.IsValid() {
		var err error
		if from, err = routeSource(a.e.dst); err != nil {
			a.e.sent(m, err)
			return
		}
	}
	m.addr = netip.AddrPortFrom(from, a.port)
	a.signer.sign(&m)
	a.e.broadcast(m)
}

// heard counts a probe towards the next answer; probes are not signed,
// so all they can do is make the answer come sooner, at most once per
// ReplyGap.
func (a *announcer) heard(m message, _ []byte, _ time.Time) reason {
	if m.kind != kindClient {
		return ownKind
	}
	a.sched.probed()
	return ok
}

// routeSource is the address a datagram to dst leaves from when the
// socket is bound to the wildcard address: that of the interface the
// route to dst goes by. Connecting a UDP socket sends nothing; it only
// asks the routing table, as the send itself will.
func routeSource(dst netip.AddrPort) (netip.Addr, error) {
	d := net.Dialer{Control: control}
	c, err := d.Dial("udp4", dst.String())
	if err != nil {
		return netip.Addr{}, fmt.Errorf("no address to announce: %w", err)
	}
	defer c.Close()
	ip := c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
	if !ip.Is4() || ip.IsUnspecified() {
		return netip.Addr{}, fmt.Errorf("no address to announce: the route to %v leaves from %v", dst, ip)
	}
	return ip, nil
}

// announceSchedule decides when an announcer broadcasts: Interval after
// its last announcement, or ReplyGap after it when a probe awaits an
// answer. The zero last time makes the first announcement due at once.
type announceSchedule struct {
	interval time.Duration
	last     time.Time
	asked    bool // a probe was heard since the last announcement
}

func (s *announceSchedule) next() time.Time {
	if s.asked {
		return s.last.Add(min(ReplyGap, s.interval))
	}
	return s.last.Add(s.interval)
}

func (s *announceSchedule) due(now time.Time) bool { return !now.Before(s.next()) }
func (s *announceSchedule) probed()                { s.asked = true }

func (s *announceSchedule) sent(now time.Time) {
	s.last = now
	s.asked = false
}
