package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ppgo/ppgo/core/sched"
)

// The collectors build each metric from a snapshot as it is scraped:
// const metrics, with the values the core already counts.

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}

// histogram exposes job run times, in seconds, over sched.DurationBounds.
func histogram(ch chan<- prometheus.Metric, d *prometheus.Desc, h *sched.Durations, labels ...string) {
	cumulative := h.Cumulative()
	buckets := make(map[float64]uint64, len(cumulative))
	for i, bound := range sched.DurationBounds {
		buckets[bound.Seconds()] = cumulative[i]
	}
	ch <- prometheus.MustNewConstHistogram(d, h.Count(), h.Sum().Seconds(), buckets, labels...)
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
