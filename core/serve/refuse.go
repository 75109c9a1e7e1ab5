package serve

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/ppgo/ppgo/core/auth"
)

// refuse closes a connection the gate turned away, at once: it has proven
// nothing, so it is owed no handshake and no reason. The close is a reset,
// which leaves the node no TIME_WAIT state for each of a flood of them.
func (s *Server) refuse(nc net.Conn, addr netip.Addr, v verdict) {
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	nc.Close()
	s.refused.Add(1)
	k := tallyKey{kind: failedHandshake, addr: addr}
	why := "too many failed handshakes from its address"
	switch v {
	case overAddr:
		k.kind = busyAddr
		why = fmt.Sprintf("%d handshakes in progress from its address", s.cfg.MaxHandshakesPerAddr)
	case overTotal:
		k = tallyKey{kind: busyNode}
		why = fmt.Sprintf("%d handshakes in progress", s.cfg.MaxHandshakes)
	}
	if s.tally.add(k, closedUnheard, "", time.Now()) {
		s.log.Warn("client refused unheard: "+why, "client", nc.RemoteAddr().String())
	}
}

// handshakeFailed counts and logs a failed handshake: the first of its
// address and sort (wrong secret, or otherwise) in a summary interval on
// its own line, the rest summed up.
func (s *Server) handshakeFailed(addr netip.Addr, nc net.Conn, err error) {
	s.mu.Lock()
	s.stats.AuthFailures++
	s.mu.Unlock()
	sort := failedOtherwise
	if errors.Is(err, auth.ErrWrongSecret) {
		sort = wrongSecret
	}
	if !s.tally.add(tallyKey{kind: failedHandshake, addr: addr}, sort, err.Error(), time.Now()) {
		return
	}
	log := s.log.With("client", nc.RemoteAddr().String())
	if sort == wrongSecret {
		log.Warn("client refused: wrong secret")
	} else {
		log.Warn("client refused: handshake failed", "err", err)
	}
}
