package serve

import (
	"net/netip"
	"testing"
	"time"
)

// The gate's arithmetic, on a clock the test turns: caps per address and
// in all, the failure bucket's burst and refill, and forgetting addresses
// whose buckets are full again.
func TestGate(t *testing.T) {
	a, b, c := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("2001:db8::1")
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	g := newGate(Config{MaxHandshakes: 3, MaxHandshakesPerAddr: 2, FailedHandshakeBurst: 2, FailedHandshakeRate: 0.5})

	type step struct {
		what string
		do   func() verdict
		want verdict
	}
	enter := func(addr netip.Addr, d time.Duration) func() verdict {
		return func() verdict { return g.enter(addr, at(d)) }
	}
	leave := func(addr netip.Addr, failed bool, d time.Duration) func() verdict {
		return func() verdict { g.leave(addr, failed, at(d)); return admitted }
	}
	for _, s := range []step{
		{"a's first", enter(a, 0), admitted},
		{"a's second", enter(a, 0), admitted},
		{"a's third, over its cap", enter(a, 0), overAddr},
		{"b's first", enter(b, 0), admitted},
		{"c, over the total", enter(c, 0), overTotal},
		{"a fails", leave(a, true, 0), admitted},
		{"a fails again", leave(a, true, 0), admitted},
		{"a, bucket empty", enter(a, time.Second), overFailures},
		{"c takes a's slots", enter(c, time.Second), admitted},
		{"a, one token after 2s", enter(a, 2*time.Second), admitted},
		{"a fails once more", leave(a, true, 2*time.Second), admitted},
		{"a, empty again", enter(a, 3*time.Second), overFailures},
		{"a, refilled", enter(a, 4*time.Second), admitted},
		{"a succeeds", leave(a, false, 4*time.Second), admitted},
	} {
		if got := s.do(); got != s.want {
			t.Fatalf("%s: verdict %d, want %d", s.what, got, s.want)
		}
	}
	g.leave(b, false, at(5*time.Second))
	g.leave(c, false, at(5*time.Second))
	if g.total != 0 {
		t.Errorf("%d handshakes counted after every one left", g.total)
	}
	if _, ok := g.addrs[b]; ok {
		t.Error("b, whose bucket was never touched, is still remembered")
	}
	if _, ok := g.addrs[a]; !ok {
		t.Error("a, whose bucket is not yet full again, was forgotten")
	}
	g.sweep(at(time.Minute))
	if len(g.addrs) != 0 {
		t.Errorf("after a sweep with every bucket full: %d addresses remembered", len(g.addrs))
	}
}
