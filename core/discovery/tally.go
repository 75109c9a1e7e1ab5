package discovery

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"
)

// tally counts the datagrams an endpoint ignored, by reason, and turns
// them into one log line at most every SummaryInterval. The first line
// comes at once, so a misconfiguration (another secret, version or clock)
// shows as soon as it is heard; under a flood the rest wait for the next
// interval. Counting allocates nothing.
type tally struct {
	counts [numReasons]uint64
	total  uint64
	last   netip.AddrPort // the source of the last one counted
	logged time.Time      // the last summary; zero: none yet
}

func (t *tally) add(r reason, from netip.AddrPort) {
	t.counts[r]++
	t.total++
	t.last = from
}

// due is when the next summary may be written: at once when none has
// been, else SummaryInterval after the last. Zero when nothing is
// counted.
func (t *tally) due() time.Time {
	if t.total == 0 || t.logged.IsZero() {
		return time.Time{}
	}
	return t.logged.Add(SummaryInterval)
}

// flush writes the summary if one is due at now, and resets the counts.
func (t *tally) flush(now time.Time, log *slog.Logger) {
	if t.total == 0 || now.Before(t.due()) {
		return
	}
	level := slog.LevelDebug
	var parts []string
	for r, n := range t.counts {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, reason(r)))
			if reason(r).alarming() {
				level = slog.LevelWarn
			}
		}
	}
	msg := fmt.Sprintf("discovery: ignored %d datagram(s): %s; the last from %v (more are summed up every %v)",
		t.total, strings.Join(parts, ", "), t.last, SummaryInterval)
	if !t.logged.IsZero() {
		msg = fmt.Sprintf("discovery: ignored %d datagram(s) in the last %v: %s; the last from %v",
			t.total, now.Sub(t.logged).Round(time.Second), strings.Join(parts, ", "), t.last)
	}
	log.Log(context.Background(), level, msg)
	*t = tally{logged: now}
}
