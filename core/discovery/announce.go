package discovery

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
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
	// Logger gets what is sent and heard at Debug level; nil discards.
	Logger *slog.Logger
}

// Announce tells clients on the network that a ppserver accepts
// connections on cfg.TCPPort at this host: it broadcasts at once, when
// asked by a probe, and every cfg.Interval. It returns an error at once if
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
	return e.run(ctx, &announcer{
		e:     e,
		msg:   message{kind: kindServer, port: uint16(tcpPort)},
		sched: announceSchedule{interval: interval},
	})
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
	e     *endpoint
	msg   message
	sched announceSchedule
}

func (a *announcer) tick(now time.Time) time.Time {
	if a.sched.due(now) {
		a.e.broadcast(a.msg)
		a.sched.sent(now)
	}
	return a.sched.next()
}

func (a *announcer) heard(m message, _ netip.AddrPort) {
	if m.kind == kindClient {
		a.sched.probed()
	}
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
