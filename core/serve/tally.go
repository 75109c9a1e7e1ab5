package serve

import (
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// tally keeps repeated events from flooding the log: the first event of
// each key and sort in an interval is logged as it happens (add says so),
// the rest are only counted, and when the interval ends each key that had
// more than one gets one summary line.
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
	failedHandshake eventKind = iota // handshakes failed, and connections refused for it
	busyAddr                         // refused: too many handshakes from the address
	busyNode                         // refused: too many handshakes in all
	acceptFailed                     // Accept returned an error
)

// The sorts of a failedHandshake event: the first of each sort is logged
// on its own line, so a wrong secret shows even among probes that connect
// and close. Other kinds have one sort, 0.
const (
	wrongSecret     = iota // the handshake ran; the client's proof was wrong
	failedOtherwise        // the handshake ran and failed another way (closed, timed out, garbled)
	closedUnheard          // the handshake did not run: the address was over its limit
	numSorts
)

// tallyCount is what an interval saw of one key.
type tallyCount struct {
	n    int           // events
	by   [numSorts]int // events of each sort
	last string        // the last event's detail (an error), if any
}

func newTally(interval time.Duration, summary func(tallyKey, tallyCount, time.Duration)) *tally {
	return &tally{interval: interval, summary: summary, counts: make(map[tallyKey]*tallyCount)}
}

// add counts one event of a sort; it returns true if it is the key's first
// of that sort in this interval, which the caller then logs in full.
func (t *tally) add(k tallyKey, sort int, detail string, now time.Time) (first bool) {
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
	c.by[sort]++
	c.last = detail
	if t.since.IsZero() {
		t.since = now
		t.timer = time.AfterFunc(t.interval, t.flush)
	}
	return c.by[sort] == 1
}

// flush ends the interval: it logs a summary for each key that had more
// events than were logged one by one, and starts counting afresh.
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
		c := counts[k]
		logged := 0
		for _, n := range c.by {
			logged += min(n, 1)
		}
		if c.n > logged {
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
	from := k.addr.String()
	switch k.kind {
	case failedHandshake:
		s.log.Warn(fmt.Sprintf("refused %d failed handshakes from %s in the last %v", c.n, from, over),
			"wrong_secret", c.by[wrongSecret], "failed_otherwise", c.by[failedOtherwise], "closed_unheard", c.by[closedUnheard],
			"limit", fmt.Sprintf("%d, then %g/s", s.cfg.FailedHandshakeBurst, s.cfg.FailedHandshakeRate))
	case busyAddr:
		s.log.Warn(fmt.Sprintf("refused %d connections from %s in the last %v: too many handshakes in progress from there", c.n, from, over),
			"limit", s.cfg.MaxHandshakesPerAddr)
	case busyNode:
		s.log.Warn(fmt.Sprintf("refused %d connections in the last %v: too many handshakes in progress", c.n, over),
			"limit", s.cfg.MaxHandshakes)
	case acceptFailed:
		s.log.Warn(fmt.Sprintf("accept failed %d times in the last %v", c.n, over), "err", c.last)
	}
}

// mib formats a byte count for the log.
func mib(n int64) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
