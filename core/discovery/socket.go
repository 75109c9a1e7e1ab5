package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"time"
)

// role is what an endpoint runs: an announcer or a prober.
type role interface {
	// tick sends whatever is due at now and says when it is next due.
	tick(now time.Time) time.Time
	// heard handles a well-formed datagram, m parsed from datagram, and
	// says why it was ignored, if it was. It must not allocate for a
	// datagram it ignores.
	heard(m message, datagram []byte, now time.Time) reason
}

// endpoint is the sockets of one announcer or prober. recv, bound to the
// wildcard address, hears the broadcasts; send is recv itself or, when an
// interface is chosen, a socket bound to it, because on Linux a socket
// bound to a unicast address hears no broadcasts, yet datagrams must leave
// from that interface's address, the address an announcement advertises.
type endpoint struct {
	recv, send *net.UDPConn
	dst        netip.AddrPort
	log        *slog.Logger
	failing    bool // the last send failed; warn only when that starts
	ignored    tally
	out        [MaxDatagram]byte // what broadcast sends
}

func openEndpoint(ctx context.Context, iface string, port int, dst netip.AddrPort, log *slog.Logger) (*endpoint, error) {
	recv, err := listen(ctx, net.JoinHostPort("0.0.0.0", strconv.Itoa(port)))
	if err != nil {
		return nil, err
	}
	e := &endpoint{recv: recv, send: recv, dst: dst, log: log}
	if ip, err := netip.ParseAddr(iface); iface == "" || err == nil && ip.IsUnspecified() {
		return e, nil
	}
	// Bound to the discovery port as well, so every datagram goes from
	// that port to that port and one firewall rule covers the protocol.
	if e.send, err = listen(ctx, net.JoinHostPort(iface, strconv.Itoa(port))); err != nil {
		recv.Close()
		return nil, err
	}
	return e, nil
}

// control sets a discovery socket's options before it binds.
func control(_, _ string, c syscall.RawConn) error {
	var err error
	if cerr := c.Control(func(fd uintptr) { err = setSockopts(fd) }); cerr != nil {
		return cerr
	}
	return err
}

// listen binds a UDP socket that shares its port and may broadcast.
func listen(ctx context.Context, addr string) (*net.UDPConn, error) {
	lc := net.ListenConfig{Control: control}
	pc, err := lc.ListenPacket(ctx, "udp4", addr)
	if err != nil {
		// The net.OpError names the address again; keep only its cause.
		if op := (*net.OpError)(nil); errors.As(err, &op) {
			err = op.Err
		}
		hint := ""
		if errors.Is(err, syscall.EADDRINUSE) {
			hint = " (held by a program that does not share it with SO_REUSEADDR)"
		}
		return nil, fmt.Errorf("discovery: listen on udp %s: %w%s", addr, err, hint)
	}
	return pc.(*net.UDPConn), nil
}

func (e *endpoint) close() {
	e.recv.Close()
	e.send.Close()
}

// run drives r until ctx is done, which closes the sockets to end a
// pending read at once. A datagram costs no allocation and no log line
// beyond the one buf, whatever it holds, unless it is one r acts on.
func (e *endpoint) run(ctx context.Context, r role) error {
	defer e.close()
	stop := context.AfterFunc(ctx, e.close)
	defer stop()
	buf := make([]byte, MaxDatagram+1) // one byte more shows a datagram is oversized
	for ctx.Err() == nil {
		now := time.Now()
		e.ignored.flush(now, e.log)
		deadline := r.tick(now)
		if due := e.ignored.due(); !due.IsZero() && due.Before(deadline) {
			deadline = due
		}
		if err := e.recv.SetReadDeadline(deadline); err != nil {
			return e.readError(ctx, err)
		}
		n, from, err := e.recv.ReadFromUDPAddrPort(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			continue
		}
		if err != nil {
			return e.readError(ctx, err)
		}
		e.receive(r, buf[:n], from, time.Now())
	}
	return nil
}

// receive handles one datagram, counting it if it is ignored.
func (e *endpoint) receive(r role, datagram []byte, from netip.AddrPort, now time.Time) {
	m, why := parseMessage(datagram)
	if why == ok {
		why = r.heard(m, datagram, now)
	}
	if why != ok && why != ownKind { // the other role's datagrams are the protocol working
		e.ignored.add(why, from)
	}
}

// readError is nil when the socket failed because ctx closed it.
func (e *endpoint) readError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("discovery: read on udp %s: %w", e.recv.LocalAddr(), err)
}

// broadcast sends m. A failure is logged, not returned: the network may
// come back (a cable, a VPN), and the next tick tries again.
func (e *endpoint) broadcast(m message) {
	_, err := e.send.WriteToUDPAddrPort(m.appendTo(e.out[:0]), e.dst)
	e.sent(m, err)
}

// sent logs how sending m went: a failure once when they start, and once
// when they stop; everything at Debug level.
func (e *endpoint) sent(m message, err error) {
	switch {
	case errors.Is(err, net.ErrClosed):
		// ctx is done; run is returning.
	case err != nil && !e.failing:
		e.failing = true
		e.log.Warn("discovery: broadcast failed", "to", e.dst, "err", err)
	case err != nil:
		e.log.Debug("discovery: broadcast failed", "to", e.dst, "err", err)
	default:
		if e.failing {
			e.failing = false
			e.log.Info("discovery: broadcasting again", "to", e.dst)
		}
		e.log.Debug("discovery: sent", "to", e.dst, "datagram", m.String())
	}
}

// broadcastAddr parses an explicit broadcast address, or gives def when
// s is empty.
func broadcastAddr(s string, def netip.Addr) (netip.Addr, error) {
	if s == "" {
		return def, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("discovery: broadcast address %q: %w", s, err)
	}
	if a = a.Unmap(); !a.Is4() {
		return netip.Addr{}, fmt.Errorf("discovery: broadcast address %q: not IPv4", s)
	}
	return a, nil
}

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
