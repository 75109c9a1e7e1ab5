package serve

import (
	"net/netip"
	"sync"
	"testing"
	"time"
)

// The first event of each key and sort is reported as first, the rest are
// summed up per key when the interval ends, and stop sums up what is
// left.
func TestTally(t *testing.T) {
	type summary struct {
		k tallyKey
		c tallyCount
	}
	var mu sync.Mutex
	var got []summary
	flushed := make(chan struct{}, 1)
	tl := newTally(50*time.Millisecond, func(k tallyKey, c tallyCount, over time.Duration) {
		mu.Lock()
		got = append(got, summary{k, c})
		mu.Unlock()
		select {
		case flushed <- struct{}{}:
		default:
		}
	})
	a := tallyKey{kind: failedHandshake, addr: netip.MustParseAddr("192.0.2.1")}
	lone := tallyKey{kind: busyNode}
	now := time.Now()
	firsts := 0
	for i := range 100 {
		if tl.add(a, i%2*closedUnheard, "", now) {
			firsts++
		}
	}
	if !tl.add(lone, 0, "", now) || firsts != 2 {
		t.Fatalf("%d of 100 events of two sorts reported first, and the lone key's? want 2 and yes", firsts)
	}
	select {
	case <-flushed:
	case <-time.After(deadline):
		t.Fatal("no summary at the end of the interval")
	}
	mu.Lock()
	if len(got) != 1 || got[0].k != a || got[0].c.n != 100 || got[0].c.by[closedUnheard] != 50 {
		t.Errorf("summaries %+v, want one of 100 events (50 unheard) for a; none for a key seen once", got)
	}
	got = nil
	mu.Unlock()
	if !tl.add(a, 0, "next interval", time.Now()) || tl.add(a, 0, "last", time.Now()) {
		t.Error("a new interval's first event was not reported first, or its second was")
	}
	tl.stop()
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0].c.n != 2 || got[0].c.last != "last" {
		t.Errorf("stop summed up %+v, want the 2 events left", got)
	}
}
