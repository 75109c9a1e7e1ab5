package discovery

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	t0   = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ms0  = uint64(t0.UnixMilli())
	from = netip.MustParseAddrPort("10.9.9.9:60000") // a datagram's source, which counts for nothing
)

// testProber is a prober without sockets, for receive to be fed by hand.
func testProber(t *testing.T, pattern string) (*endpoint, *prober, *[]netip.AddrPort) {
	t.Helper()
	p, err := ParsePattern(pattern)
	if err != nil {
		t.Fatal(err)
	}
	var found []netip.AddrPort
	e := &endpoint{log: logger(nil)}
	return e, &prober{
		e: e, signer: newSigner([]byte(testSecret)), pattern: p,
		found: func(a netip.AddrPort) { found = append(found, a) },
	}, &found
}

// TestProberChecks feeds a prober one datagram after another and checks
// what each does: reported, or ignored for the right reason.
func TestProberChecks(t *testing.T) {
	e, p, found := testProber(t, "10.*.*.*")
	node := "10.0.0.5:60000"
	first := signed(testSecret, node, ms0)
	forged := signed(testSecret, "10.0.0.5:60001", ms0+1)
	forged.mac = first.mac
	steps := []struct {
		what     string
		datagram string
		at       time.Duration // after t0
		want     reason
	}{
		{"an authentic announcement", first.String(), 0, ok},
		{"heard again", first.String(), time.Second, duplicate},
		{"signed under another secret", signed("another secret", node, ms0+1).String(), 0, badMAC},
		{"signed under no secret", signed("", "10.0.0.6:60000", ms0).String(), 0, badMAC},
		{"its MAC on another port", forged.String(), 0, badMAC},
		{"outside the pattern", signed(testSecret, "11.0.0.5:60000", ms0).String(), 0, outside},
		{"a forgery outside the pattern", signed("", "11.0.0.5:60000", ms0).String(), 0, outside},
		{"stale", signed(testSecret, "10.0.0.7:60000", ms0).String(), MaxClockSkew + time.Millisecond, badClock},
		{"from the future", signed(testSecret, "10.0.0.7:60000", ms0+uint64(MaxClockSkew.Milliseconds())+1).String(), 0, badClock},
		{"just within the window", signed(testSecret, "10.0.0.7:60000", ms0).String(), MaxClockSkew, ok},
		{"a newer one", signed(testSecret, node, ms0+2000).String(), 0, ok},
		{"replay of an older one", first.String(), 0, replayed},
		{"replay of one before that", signed(testSecret, node, ms0+1).String(), 0, replayed},
		{"version 1", "ppgo-discovery 1 S 60000", 0, badVersion},
		{"a probe", "ppgo-discovery 2 C", 0, ownKind},
		{"garbage", "\x00ppgo", 0, notOurs},
		{"another node on the same host", signed(testSecret, "10.0.0.5:60001", ms0).String(), 0, ok},
	}
	var want []netip.AddrPort
	var counts [numReasons]uint64
	for _, st := range steps {
		before := e.ignored.counts
		e.receive(p, []byte(st.datagram), from, t0.Add(st.at))
		m, _ := parseMessage([]byte(st.datagram))
		if st.want == ok {
			want = append(want, m.addr)
		} else if st.want != ownKind {
			counts[st.want]++
		}
		if len(*found) != len(want) || len(want) > 0 && (*found)[len(want)-1] != want[len(want)-1] {
			t.Fatalf("%s: found %v, want %v", st.what, *found, want)
		}
		if e.ignored.counts != counts {
			t.Fatalf("%s: ignored counts went from %v to %v, want %v (%v)", st.what, before, e.ignored.counts, counts, st.want)
		}
	}
	if e.ignored.last != from {
		t.Errorf("last ignored from %v, want %v", e.ignored.last, from)
	}
}

// TestAnnouncerCountsProbesOnly: an announcer's answer comes sooner for a
// probe and for nothing else.
func TestAnnouncerCountsProbesOnly(t *testing.T) {
	e := &endpoint{log: logger(nil)}
	a := &announcer{e: e, sched: announceSchedule{interval: time.Minute}}
	a.sched.sent(t0)
	for _, g := range append(garbage, signed(testSecret, "127.0.0.1:5555", ms0).String()) {
		e.receive(a, []byte(g), from, t0)
		if a.sched.asked {
			t.Fatalf("%q counted as a probe", g)
		}
	}
	e.receive(a, []byte("ppgo-discovery 2 C"), from, t0)
	if !a.sched.asked {
		t.Fatal("a probe did not count")
	}
}

// TestRejectedDatagramsAllocateNothing: a flood of datagrams that are
// ignored, forged, replayed or of another version costs no garbage, and
// neither do the probes an announcer answers.
func TestRejectedDatagramsAllocateNothing(t *testing.T) {
	e, p, found := testProber(t, "*")
	valid := signed(testSecret, "127.0.0.1:5555", ms0)
	e.receive(p, []byte(valid.String()), from, t0)
	if len(*found) != 1 {
		t.Fatalf("the valid announcement was not found: %v", *found)
	}
	tampered := valid
	tampered.stamp++
	datagrams := [][]byte{
		[]byte(valid.String()), // duplicate
		[]byte(signed(testSecret, "127.0.0.1:5555", ms0-1).String()), // replayed
		[]byte(signed("another secret", "127.0.0.2:5555", ms0).String()),
		[]byte(tampered.String()),
		[]byte(signed(testSecret, "127.0.0.3:5555", 1).String()), // stale
		[]byte("ppgo-discovery 1 S 5555"),
		[]byte("ppgo-discovery 2 S 127.0.0.1 5555 1 zz"),
		[]byte(strings.Repeat("x", MaxDatagram+1)),
		[]byte("ppgo-discovery 2 C"),
	}
	for _, d := range datagrams {
		if allocs := testing.AllocsPerRun(100, func() { e.receive(p, d, from, t0) }); allocs != 0 {
			t.Errorf("prober: %q costs %v allocations", d, allocs)
		}
	}
	a := &announcer{e: e, sched: announceSchedule{interval: time.Minute}}
	for _, d := range datagrams {
		if allocs := testing.AllocsPerRun(100, func() { e.receive(a, d, from, t0) }); allocs != 0 {
			t.Errorf("announcer: %q costs %v allocations", d, allocs)
		}
	}
	if len(*found) != 1 {
		t.Errorf("found %v, want only the valid one", *found)
	}
}

// TestStampsTable: the table of announcers is bounded; the nodes it
// forgets to make room are those whose replays the clock check refuses.
func TestStampsTable(t *testing.T) {
	var s stamps
	node := func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 60000)
	}
	for i := range MaxAnnouncers - 1 {
		if why := s.accept(node(i), ms0, t0); why != ok {
			t.Fatalf("node %d: %v", i, why)
		}
	}
	later := t0.Add(time.Minute)
	msLater := uint64(later.UnixMilli())
	if why := s.accept(node(MaxAnnouncers-1), msLater, later); why != ok {
		t.Fatalf("the last one that fits: %v", why)
	}
	if why := s.accept(node(MaxAnnouncers), msLater, later); why != tableFull {
		t.Fatalf("one over MaxAnnouncers, all fresh: %v, want %v", why, tableFull)
	}
	if why := s.accept(node(0), msLater, later); why != ok {
		t.Fatalf("a known node, while full: %v", why)
	}
	// Past the window, all but nodes 0 and MaxAnnouncers-1 are stale.
	past := t0.Add(MaxClockSkew + time.Second)
	msPast := uint64(past.UnixMilli())
	if why := s.accept(node(MaxAnnouncers), msPast, past); why != ok {
		t.Fatalf("a new node once the old ones are stale: %v", why)
	}
	if len(s.last) != 3 {
		t.Errorf("%d nodes remembered, want the 3 heard within the window", len(s.last))
	}
	if why := s.accept(node(0), msLater-1, past); why != replayed {
		t.Errorf("replay of a remembered node's last announcement: %v, want %v", why, replayed)
	}
}

// recorder is a slog.Handler that keeps every record.
type recorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec)
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

// matching returns the messages of the records that contain part.
func (r *recorder) matching(part string) (msgs []string, levels []slog.Level) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.records {
		if strings.Contains(rec.Message, part) {
			msgs, levels = append(msgs, rec.Message), append(levels, rec.Level)
		}
	}
	return msgs, levels
}

// TestTally: ignored datagrams make one line at once, then at most one per
// SummaryInterval; a warning when they point at a misconfiguration or an
// attack, a debug line when they are only noise.
func TestTally(t *testing.T) {
	rec := &recorder{}
	log := slog.New(rec)
	var tl tally
	steps := []struct {
		at    time.Duration
		add   []reason
		lines int
		level slog.Level
		has   string
	}{
		{at: 0, add: []reason{badMAC}, lines: 1, level: slog.LevelWarn, has: "ignored 1 datagram(s): 1 failing authentication"},
		{at: time.Second, add: []reason{badMAC, badMAC, replayed, notOurs}, lines: 1},
		{at: SummaryInterval - time.Millisecond, lines: 1},
		{at: SummaryInterval, lines: 2, level: slog.LevelWarn,
			has: "ignored 4 datagram(s) in the last 1m0s: 1 not ppgo-discovery datagrams, 1 replayed"},
		{at: SummaryInterval + time.Second, add: []reason{notOurs, outside}, lines: 2},
		{at: 2 * SummaryInterval, lines: 3, level: slog.LevelDebug, has: "1 announcing nodes outside the pattern"},
		{at: 10 * SummaryInterval, lines: 3}, // nothing counted, nothing said
	}
	for i, st := range steps {
		for _, r := range st.add {
			tl.add(r, from)
		}
		tl.flush(t0.Add(st.at), log)
		msgs, levels := rec.matching("discovery: ignored")
		if len(msgs) != st.lines {
			t.Fatalf("step %d: %d lines, want %d: %q", i, len(msgs), st.lines, msgs)
		}
		if st.has != "" {
			last := msgs[len(msgs)-1]
			if !strings.Contains(last, st.has) || !strings.Contains(last, from.String()) || levels[len(levels)-1] != st.level {
				t.Errorf("step %d: %v %q, want %v with %q and the last source", i, levels[len(levels)-1], last, st.level, st.has)
			}
		}
	}
}

// BenchmarkReceive measures what one datagram of a flood costs a prober.
func BenchmarkReceive(b *testing.B) {
	for _, bc := range []struct {
		name     string
		datagram string
	}{
		{"forged", signed("another secret", "127.0.0.2:5555", ms0).String()},
		{"version 1", "ppgo-discovery 1 S 5555"},
		{"garbage", "\x00\x01\x02"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p, err := ParsePattern("*")
			if err != nil {
				b.Fatal(err)
			}
			e := &endpoint{log: logger(nil)}
			r := &prober{e: e, signer: newSigner([]byte(testSecret)), pattern: p, found: func(netip.AddrPort) {}}
			d := []byte(bc.datagram)
			b.ReportAllocs()
			for b.Loop() {
				e.receive(r, d, from, t0)
			}
		})
	}
}
