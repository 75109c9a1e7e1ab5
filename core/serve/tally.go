package serve

import (
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// tally keeps repeated events from flooding the log: the first event of
// each key in an interval is logged as it happens (add says so), the rest
// are only counted, and when the interval ends each key that had more
// than one gets one summary line.
type tally struct {
	interval time.Duration
	summary  func(k tallyKey, c tallyCount, over time.Duration)

	mu      sync.Mutex
	since   time.Time // when the current interval began; zero with nothing counted
	counts  map[tallyKey]*tallyCount
	order   []tallyKey // keys in the order first seen, for a stable log
	timer   *time.Timer
	stopped bool
}

// tallyKey is one kind of event from one address (the zero address for
// events of the whole node).
type tallyKey struct {
	kind eventKind
	addr netip.Addr
}

// eventKind is a kind of event that may repeat thousands of times a second.
type eventKind int

const (
	acceptFailed eventKind = iota // Accept returned an error
)

// tallyCount is what an interval saw of one key.
type tallyCount struct {
	n    int    // events
	last string // the last event's detail (an error), if any
}

func newTally(interval time.Duration, summary func(tallyKey, tallyCount, time.Duration)) *tally {
	return &tally{interval: interval, summary: summary, counts: make(map[tallyKey]*tallyCount)}
}

// add counts one event; it returns true if it is the key's first in this
// interval, which the caller then logs in full.
func (t *tally) add(k tallyKey, detail string, now time.Time) (first bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return true
	}
	c := t.counts[k]
	if c == nil {
		c = &tallyCount{}
		t.counts[k] = c
		t.order = append(t.order, k)
	}
	c.n++
	c.last = detail
	if t.since.IsZero() {
		t.since = now
		t.timer = time.AfterFunc(t.interval, t.flush)
	}
	return c.n == 1
}

// flush ends the interval: it logs a summary for each key seen more than
// once and starts counting afresh.
func (t *tally) flush() {
	t.mu.Lock()
	counts, order, since := t.counts, t.order, t.since
	t.counts, t.order, t.since = make(map[tallyKey]*tallyCount), nil, time.Time{}
	t.mu.Unlock()
	if since.IsZero() {
		return
	}
	over := roundForLog(time.Since(since))
	for _, k := range order {
		if c := counts[k]; c.n > 1 {
			t.summary(k, *c, over)
		}
	}
}

// stop logs what is still counted; later events are logged one by one.
func (t *tally) stop() {
	t.mu.Lock()
	t.stopped = true
	if t.timer != nil {
		t.timer.Stop()
	}
	t.mu.Unlock()
	t.flush()
}

// roundForLog keeps two or three significant digits of d: "10s", "2.5s",
// "40ms".
func roundForLog(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(time.Second)
	case d >= time.Second:
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

// summarize logs what an interval saw of repeated events.
func (s *Server) summarize(k tallyKey, c tallyCount, over time.Duration) {
	switch k.kind {
	case acceptFailed:
		s.log.Warn(fmt.Sprintf("accept failed %d times in the last %v", c.n, over), "err", c.last)
	}
}
