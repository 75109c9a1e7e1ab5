package jobserver

import (
	"fmt"

	"github.com/ppgo/ppgo/core/metrics"
)

// ServeMetrics serves the client's Prometheus metrics and live status page
// on addr ("HOST:PORT", ":PORT"; port 0 picks a free one) until Close, and
// returns the address it is bound to. A server serves them on one address
// at most.
func (s *Server) ServeMetrics(addr string) (string, error) {
	// metricsMu, held throughout, orders this against Close: either Close
	// has set closed and this starts nothing, or Close finds the listener
	// and stops it.
	s.metricsMu.Lock()
	defer s.metricsMu.Unlock()
	s.remotesMu.Lock()
	closed := s.closed
	s.remotesMu.Unlock()
	switch {
	case closed:
		return "", fmt.Errorf("jobserver: metrics on %s: server closed", addr)
	case s.metrics != nil:
		return "", fmt.Errorf("jobserver: metrics on %s: already served on %s", addr, s.metrics.Addr())
	}
	l, err := metrics.ServeClient(addr, s, nil)
	if err != nil {
		return "", err
	}
	s.metrics = l
	return l.Addr(), nil
}

// MetricsAddress is where ServeMetrics serves, "" if it does not.
func (s *Server) MetricsAddress() string {
	s.metricsMu.Lock()
	defer s.metricsMu.Unlock()
	if s.metrics == nil {
		return ""
	}
	return s.metrics.Addr()
}

var _ metrics.ClientSource = (*Server)(nil)

// FinishedJobs implements metrics.ClientSource from the scheduler's
// counters alone: no node's lock is taken.
func (s *Server) FinishedJobs() uint64 {
	var n uint64
	for _, st := range s.sched.Stats() {
		n += uint64(st.Jobs) + st.Failed
	}
	return n
}

// MetricsSnapshot implements metrics.ClientSource: it reads the
// scheduler's and the nodes' counters as they are.
func (s *Server) MetricsSnapshot() metrics.Client {
	counts := s.sched.Counts()
	snap := metrics.Client{Queued: counts.Queued, Pending: counts.Pending, Cancelled: counts.Cancelled}
	stats := s.sched.Stats()
	s.remotesMu.Lock()
	defer s.remotesMu.Unlock()
	for _, st := range stats {
		n := metrics.Node{
			Name: st.Name, Capacity: st.Capacity, Running: st.Running, Done: uint64(st.Jobs),
			Failed: st.Failed, Retried: st.Retried, Times: st.Times,
		}
		if r := s.remotes[st.Name]; r != nil {
			state := r.State()
			n.Connected, n.Workers = state.Connected, state.Workers
			n.BytesIn, n.BytesOut, n.AuthFailures = state.BytesIn, state.BytesOut, state.Refusals
		} else {
			n.Connected, n.Workers = true, s.local.Workers()
		}
		snap.Nodes = append(snap.Nodes, n)
	}
	return snap
}
