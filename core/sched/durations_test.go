package sched

import (
	"slices"
	"testing"
	"time"
)

func TestDurationsBuckets(t *testing.T) {
	if len(DurationBounds)+1 != numDurationBuckets {
		t.Fatalf("%d bounds need %d buckets, numDurationBuckets is %d",
			len(DurationBounds), len(DurationBounds)+1, numDurationBuckets)
	}
	if !slices.IsSorted(DurationBounds) {
		t.Fatal("DurationBounds are not in order")
	}
	var h Durations
	for _, d := range []time.Duration{
		0,                      // the first bucket
		100 * time.Microsecond, // a bound is in its own bucket
		101 * time.Microsecond, // the second
		time.Second,            // the 13th
		time.Hour,              // above every bound: counted, in no bucket
	} {
		h.Observe(d)
	}
	if h.Count() != 5 {
		t.Errorf("Count = %d, want 5", h.Count())
	}
	if want := time.Hour + time.Second + 201*time.Microsecond; h.Sum() != want {
		t.Errorf("Sum = %v, want %v", h.Sum(), want)
	}
	got := h.Cumulative()
	for i, want := range map[int]uint64{0: 2, 1: 3, 11: 3, 12: 4, len(DurationBounds) - 1: 4} {
		if got[i] != want {
			t.Errorf("jobs up to %v: %d, want %d", DurationBounds[i], got[i], want)
		}
	}
	var total Durations
	total.Add(&h)
	total.Add(&h)
	if total.Count() != 10 || total.Sum() != 2*h.Sum() {
		t.Errorf("two added: count %d, sum %v", total.Count(), total.Sum())
	}
}
