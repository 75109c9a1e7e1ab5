package discovery

import (
	"net/netip"
	"time"
)

// stamps is a prober's memory of the announcers it heard: the stamp of
// the last announcement accepted from each node. An announcer's stamps
// rise, so anything at or below the last one is a copy or a replay. With
// the clock window it refuses every replay: one older than MaxClockSkew
// fails the window, a younger one this table. Only announcements with a
// valid MAC reach it, so only holders of the secret can fill it.
type stamps struct {
	last map[netip.AddrPort]uint64
}

// accept checks an authentic announcement's stamp against now and the
// node's last one, and remembers it if it passes.
func (s *stamps) accept(node netip.AddrPort, stamp uint64, now time.Time) reason {
	nowMS, skew := now.UnixMilli(), MaxClockSkew.Milliseconds()
	if stamp > uint64(max(nowMS+skew, 0)) || nowMS-skew > 0 && stamp < uint64(nowMS-skew) {
		return badClock
	}
	last, known := s.last[node]
	switch {
	case known && stamp == last:
		return duplicate // a host on the network twice hears each broadcast twice
	case known && stamp < last:
		return replayed
	case !known && len(s.last) >= MaxAnnouncers:
		s.forgetBefore(uint64(max(nowMS-skew, 0)))
		if len(s.last) >= MaxAnnouncers {
			return tableFull
		}
	}
	if s.last == nil {
		s.last = make(map[netip.AddrPort]uint64)
	}
	s.last[node] = stamp
	return ok
}

// forgetBefore drops the nodes last heard with a stamp before oldest:
// every replay of theirs fails the clock window, so remembering them
// protects nothing.
func (s *stamps) forgetBefore(oldest uint64) {
	for node, stamp := range s.last {
		if stamp < oldest {
			delete(s.last, node)
		}
	}
}
