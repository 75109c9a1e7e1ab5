package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"
)

// ProbeConfig describes a client looking for ppservers.
type ProbeConfig struct {
	// Pattern says which nodes count and gives the port; its broadcast
	// address is where probes go unless Broadcast is set.
	Pattern Pattern
	// Broadcast overrides Pattern's broadcast address.
	Broadcast string
	// MinInterval is the first wait between probes, doubling up to
	// MaxInterval; 0 means DefaultMinProbeInterval and
	// DefaultMaxProbeInterval (or MinInterval, if more).
	MinInterval, MaxInterval time.Duration
	// Secret is the shared secret: only announcements signed under it
	// are reported.
	Secret string
	// Logger gets what is sent and heard at Debug level, and a summary of
	// ignored datagrams at most every SummaryInterval, at Warn level when
	// they point at another secret, version or clock; nil discards.
	Logger *slog.Logger
}

// Probe looks for ppservers until ctx is done, calling found with the
// address of every authentic announcement it hears from a node
// cfg.Pattern matches: the address and TCP port the announcement names,
// signed under cfg.Secret, within MaxClockSkew of this clock and newer
// than the last one from that node. found is called on
// Probe's goroutine, once per announcement heard, so the same node comes
// again and again; it should return quickly. Probe binds the pattern's
// port, shared with any other prober or announcer on this host, and
// returns an error at once if it cannot, and nil once ctx is done.
func Probe(ctx context.Context, cfg ProbeConfig, found func(netip.AddrPort)) error {
	if cfg.Pattern.port == 0 {
		return errors.New("discovery: probe without a pattern")
	}
	if found == nil {
		return errors.New("discovery: probe without a found function")
	}
	minWait := cfg.MinInterval
	if minWait == 0 {
		minWait = DefaultMinProbeInterval
	}
	maxWait := cfg.MaxInterval
	if maxWait == 0 {
		maxWait = max(DefaultMaxProbeInterval, minWait)
	}
	if minWait < 0 || maxWait < minWait {
		return fmt.Errorf("discovery: probe intervals %v to %v: want 0 < min <= max", minWait, maxWait)
	}
	dst, err := broadcastAddr(cfg.Broadcast, cfg.Pattern.Broadcast())
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return nil
	}
	port := cfg.Pattern.Port()
	e, err := openEndpoint(ctx, "", port, netip.AddrPortFrom(dst, uint16(port)), logger(cfg.Logger))
	if err != nil {
		return err
	}
	return e.run(ctx, &prober{
		e: e, signer: newSigner([]byte(cfg.Secret)), pattern: cfg.Pattern, found: found,
		wait: minWait, maxWait: maxWait,
	})
}

type prober struct {
	e             *endpoint
	signer        *signer
	stamps        stamps
	pattern       Pattern
	found         func(netip.AddrPort)
	next          time.Time // the next probe; zero sends at once
	wait, maxWait time.Duration
}

func (p *prober) tick(now time.Time) time.Time {
	if !now.Before(p.next) {
		p.e.broadcast(message{kind: kindClient})
		p.next = now.Add(p.wait)
		p.wait = min(2*p.wait, p.maxWait)
	}
	return p.next
}

// heard reports an announcement that passes every check, cheapest first
// except that the MAC comes before the stamp: a forged announcement is
// counted as forged, whatever its stamp says.
func (p *prober) heard(m message, datagram []byte, now time.Time) reason {
	if m.kind != kindServer {
		return ownKind
	}
	if !p.pattern.Match(m.addr.Addr()) {
		return outside
	}
	if !p.signer.verify(&m, datagram) {
		return badMAC
	}
	if why := p.stamps.accept(m.addr, m.stamp, now); why != ok {
		return why
	}
	p.e.log.Debug("discovery: heard", "node", m.addr)
	p.found(m.addr)
	return ok
}
