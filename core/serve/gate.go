package serve

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// gate decides which new connections may run the handshake: it counts the
// connections in their handshake, in all and per source address, and
// keeps a token bucket of failed handshakes per source address. Turning a
// connection away costs a close, so a flood of connections that never
// authenticate can neither run the node out of file descriptors nor make
// it compute an HMAC for each.
type gate struct {
	maxTotal   int
	maxPerAddr int
	burst      float64 // failed handshakes an address may have at once
	rate       float64 // and then per second

	mu    sync.Mutex
	total int                    // connections in their handshake
	addrs map[netip.Addr]*source // addresses with a handshake in progress or a bucket not yet full
	swept int                    // len(addrs) after the last sweep
}

// source is what the gate knows about one address.
type source struct {
	handshakes int       // its connections in their handshake
	tokens     float64   // failed handshakes it may still have; below 1, it is refused
	at         time.Time // when tokens was last brought up to date
}

// verdict is the gate's answer to a new connection.
type verdict int

const (
	admitted     verdict = iota
	overFailures         // its address failed too many handshakes lately
	overAddr             // its address has MaxHandshakesPerAddr in progress
	overTotal            // MaxHandshakes are in progress
)

// minSweep is the size of the address table below which it is not swept.
const minSweep = 64

func newGate(c Config) *gate {
	return &gate{
		maxTotal:   c.MaxHandshakes,
		maxPerAddr: c.MaxHandshakesPerAddr,
		burst:      float64(c.FailedHandshakeBurst),
		rate:       c.FailedHandshakeRate,
		addrs:      make(map[netip.Addr]*source),
	}
}

// enter admits a connection from addr, or says why not. An admitted
// connection must leave once its handshake is over.
func (g *gate) enter(addr netip.Addr, now time.Time) verdict {
	g.mu.Lock()
	defer g.mu.Unlock()
	src := g.addrs[addr]
	if src != nil {
		g.refill(src, now)
		if src.tokens < 1 {
			return overFailures
		}
		if src.handshakes >= g.maxPerAddr {
			return overAddr
		}
	}
	if g.total >= g.maxTotal {
		return overTotal
	}
	if src == nil {
		if len(g.addrs) >= 2*max(g.swept, minSweep) {
			g.sweep(now)
		}
		src = &source{tokens: g.burst, at: now}
		g.addrs[addr] = src
	}
	src.handshakes++
	g.total++
	return admitted
}

// leave ends the handshake of a connection enter admitted; a failed one
// costs its address a token. Several handshakes of one address that fail
// together may take its bucket below zero: it then waits longer.
func (g *gate) leave(addr netip.Addr, failed bool, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	src := g.addrs[addr]
	src.handshakes--
	g.total--
	g.refill(src, now)
	if failed {
		src.tokens--
	}
	if g.idle(src) {
		delete(g.addrs, addr)
	}
}

// refill adds the tokens earned since src was last brought up to date.
func (g *gate) refill(src *source, now time.Time) {
	if el := now.Sub(src.at); el > 0 {
		src.tokens = min(g.burst, src.tokens+el.Seconds()*g.rate)
		src.at = now
	}
}

// idle: nothing about src needs remembering.
func (g *gate) idle(src *source) bool {
	return src.handshakes == 0 && src.tokens >= g.burst
}

// sweep forgets the addresses whose buckets have filled up again, so that
// the table holds only recent offenders and handshakes in progress.
func (g *gate) sweep(now time.Time) {
	for a, src := range g.addrs {
		g.refill(src, now)
		if g.idle(src) {
			delete(g.addrs, a)
		}
	}
	g.swept = len(g.addrs)
}

// sourceAddr is the address a connection comes from, the key of the
// gate's per-address limits: IPv4 clients of a dual-stack listener count
// as their IPv4 address. Connections without an IP address (in-memory
// pipes in tests) share the zero address.
func sourceAddr(nc net.Conn) netip.Addr {
	ap, err := netip.ParseAddrPort(nc.RemoteAddr().String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
