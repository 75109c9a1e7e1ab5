package discovery

import (
	"testing"
	"time"
)

// TestAnnounceSchedule walks an announcer's schedule on a fake clock.
func TestAnnounceSchedule(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	s := announceSchedule{interval: 30 * time.Second}
	ms := time.Millisecond

	steps := []struct {
		what string
		do   func()
		now  time.Duration
		due  bool
	}{
		{what: "first announcement is due at once", now: 0, due: true},
		{what: "announced", do: func() { s.sent(at(0)) }, now: 0, due: false},
		{what: "nothing due before the interval", now: 29 * time.Second, due: false},
		{what: "probe right after announcing waits out the gap", do: s.probed, now: 10 * ms, due: false},
		{what: "more probes within the gap share it", do: s.probed, now: 150 * ms, due: false},
		{what: "the answer is due at the gap", now: ReplyGap, due: true},
		{what: "answered", do: func() { s.sent(at(ReplyGap)) }, now: ReplyGap, due: false},
		{what: "next unasked one an interval after the answer", now: ReplyGap + 30*time.Second, due: true},
		{what: "announced late", do: func() { s.sent(at(40 * time.Second)) }, now: 40 * time.Second, due: false},
		{what: "a probe long after the last announcement is answered at once", do: s.probed, now: 41 * time.Second, due: true},
	}
	for _, st := range steps {
		if st.do != nil {
			st.do()
		}
		if got := s.due(at(st.now)); got != st.due {
			t.Fatalf("%s: due(t0+%v) = %v (next %v)", st.what, st.now, got, s.next().Sub(t0))
		}
	}
}

// TestAnnounceScheduleShortInterval: an interval under ReplyGap is not
// slowed down by probes.
func TestAnnounceScheduleShortInterval(t *testing.T) {
	t0 := time.Now()
	s := announceSchedule{interval: 50 * time.Millisecond}
	s.sent(t0)
	s.probed()
	if got := s.next().Sub(t0); got != 50*time.Millisecond {
		t.Fatalf("next = t0+%v, want t0+50ms", got)
	}
}
