package sched

import (
	"slices"
	"time"
)

// DurationBounds are the upper bounds of Durations' buckets: 1, 2.5 and 5
// per decade from 100 µs to 100 s. Jobs worth shipping to a worker run from
// tens of microseconds (the `tiny` benchmark) to minutes; three buckets a
// decade tell those apart without costing a lookup that shows in Finish.
var DurationBounds = []time.Duration{
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second,
	10 * time.Second, 25 * time.Second, 50 * time.Second,
	100 * time.Second,
}

// numDurationBuckets counts DurationBounds' buckets and the one above the
// last bound.
const numDurationBuckets = 20

// Durations is a histogram of job run times over DurationBounds. The zero
// value is empty. It has no lock of its own: its owner's lock guards it,
// the one already held where a job's outcome is counted, so observing a
// job costs a search of twenty bounds and no more synchronisation.
type Durations struct {
	counts [numDurationBuckets]uint64 // counts[i]: jobs in (bounds[i-1], bounds[i]]; the last: above every bound
	sum    time.Duration
}

// Observe counts one job that ran for d.
func (h *Durations) Observe(d time.Duration) {
	i, _ := slices.BinarySearch(DurationBounds, d)
	h.counts[i]++
	h.sum += d
}

// Count is how many jobs were observed.
func (h *Durations) Count() uint64 {
	var n uint64
	for _, c := range h.counts {
		n += c
	}
	return n
}

// Sum is the total run time observed.
func (h *Durations) Sum() time.Duration { return h.sum }

// Cumulative returns, for each of DurationBounds, how many jobs ran for
// at most that long: the form Prometheus histograms take.
func (h *Durations) Cumulative() []uint64 {
	out := make([]uint64, len(DurationBounds))
	var n uint64
	for i := range DurationBounds {
		n += h.counts[i]
		out[i] = n
	}
	return out
}

// Add adds o's observations to h.
func (h *Durations) Add(o *Durations) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.sum += o.sum
}
