package metrics

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ppgo/ppgo/core/sched"
)

// Client is a snapshot of a client (a pp.Server): its scheduler's queue
// and every node it dispatches to.
type Client struct {
	Queued    int    `json:"queued"`    // jobs waiting for a node
	Pending   int    `json:"pending"`   // jobs submitted and not yet finished
	Cancelled uint64 `json:"cancelled"` // jobs cancelled before they ran
	Nodes     []Node `json:"nodes"`     // the local pool first
}

// Node is one node as a client sees it.
type Node struct {
	Name      string `json:"name"` // "local", or the ppserver's "host:port"
	Connected bool   `json:"connected"`
	Workers   int    `json:"workers"`
	Capacity  int    `json:"capacity"` // jobs the scheduler may hand it at once
	Running   int    `json:"running"`  // jobs it has been handed and not reported
	Done      uint64 `json:"done"`
	Failed    uint64 `json:"failed"`  // ended failed or timed out there
	Retried   uint64 `json:"retried"` // lost there, queued again
	BytesIn   uint64 `json:"bytes_in"`
	BytesOut  uint64 `json:"bytes_out"`
	// AuthFailures counts the handshakes the ppserver refused.
	AuthFailures uint64          `json:"auth_failures"`
	Times        sched.Durations `json:"-"`
}

// ClientSource is a client's engine as the collector reads it
// (core/jobserver.Server). Snapshot is called on every scrape and every
// poll of the status page, and must not block for long.
type ClientSource interface {
	MetricsSnapshot() Client
	// FinishedJobs is the jobs done or failed on every node so far (the
	// sum of Snapshot's Done and Failed), read each second for the rate
	// history without the rest of a snapshot.
	FinishedJobs() uint64
}

// ServeClient serves a client's metrics and status page on addr (see
// ParseAddr).
func ServeClient(addr string, src ClientSource, log *slog.Logger) (*Listener, error) {
	return listen(addr, clientCollector{src}, log)
}

// The client's metrics. Per node, labelled node.
var (
	clientQueued = prometheus.NewDesc("ppgo_client_jobs_queued",
		"Jobs waiting in the scheduler for a node with room.", nil, nil)
	clientPending = prometheus.NewDesc("ppgo_client_jobs_pending",
		"Jobs submitted and not yet finished.", nil, nil)
	clientCancelled = prometheus.NewDesc("ppgo_client_jobs_cancelled_total",
		"Jobs cancelled before they ran.", nil, nil)
	nodeLabels      = []string{"node"}
	nodeRunning     = prometheus.NewDesc("ppgo_client_node_jobs_running", "Jobs the node has been handed and not reported.", nodeLabels, nil)
	nodeDone        = prometheus.NewDesc("ppgo_client_node_jobs_done_total", "Jobs the node completed.", nodeLabels, nil)
	nodeFailed      = prometheus.NewDesc("ppgo_client_node_jobs_failed_total", "Jobs that failed (lost too often) or timed out on the node.", nodeLabels, nil)
	nodeRetried     = prometheus.NewDesc("ppgo_client_node_jobs_retried_total", "Jobs the node lost (worker died, connection broke) that were queued again.", nodeLabels, nil)
	nodeCapacity    = prometheus.NewDesc("ppgo_client_node_capacity", "Jobs the scheduler may hand the node at once (a ppserver's credits; 0 while disconnected).", nodeLabels, nil)
	nodeWorkers     = prometheus.NewDesc("ppgo_client_node_workers", "The node's worker processes.", nodeLabels, nil)
	nodeConnected   = prometheus.NewDesc("ppgo_client_node_connected", "1 while the node is connected (always, for the local pool).", nodeLabels, nil)
	nodeBytesIn     = prometheus.NewDesc("ppgo_client_node_received_bytes_total", "Bytes read from the ppserver's connections.", nodeLabels, nil)
	nodeBytesOut    = prometheus.NewDesc("ppgo_client_node_sent_bytes_total", "Bytes written to the ppserver's connections.", nodeLabels, nil)
	nodeAuthFailed  = prometheus.NewDesc("ppgo_client_node_auth_failures_total", "Handshakes the ppserver refused (wrong secret or protocol).", nodeLabels, nil)
	nodeJobDuration = prometheus.NewDesc("ppgo_client_job_duration_seconds", "Run time of the jobs the node completed.", nodeLabels, nil)
)

// clientCollector reads a client's counters on each scrape.
type clientCollector struct{ src ClientSource }

// NewClientCollector returns a collector of src's metrics.
func NewClientCollector(src ClientSource) prometheus.Collector {
	return clientCollector{src}
}

func (c clientCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{clientQueued, clientPending, clientCancelled,
		nodeRunning, nodeDone, nodeFailed, nodeRetried, nodeCapacity, nodeWorkers,
		nodeConnected, nodeBytesIn, nodeBytesOut, nodeAuthFailed, nodeJobDuration} {
		ch <- d
	}
}

func (c clientCollector) Collect(ch chan<- prometheus.Metric) {
	snap := c.src.MetricsSnapshot()
	gauge(ch, clientQueued, float64(snap.Queued))
	gauge(ch, clientPending, float64(snap.Pending))
	counter(ch, clientCancelled, float64(snap.Cancelled))
	for _, n := range snap.Nodes {
		gauge(ch, nodeRunning, float64(n.Running), n.Name)
		counter(ch, nodeDone, float64(n.Done), n.Name)
		counter(ch, nodeFailed, float64(n.Failed), n.Name)
		counter(ch, nodeRetried, float64(n.Retried), n.Name)
		gauge(ch, nodeCapacity, float64(n.Capacity), n.Name)
		gauge(ch, nodeWorkers, float64(n.Workers), n.Name)
		gauge(ch, nodeConnected, boolValue(n.Connected), n.Name)
		counter(ch, nodeBytesIn, float64(n.BytesIn), n.Name)
		counter(ch, nodeBytesOut, float64(n.BytesOut), n.Name)
		counter(ch, nodeAuthFailed, float64(n.AuthFailures), n.Name)
		histogram(ch, nodeJobDuration, &n.Times, n.Name)
	}
}

func (c clientCollector) status() any {
	snap := c.src.MetricsSnapshot()
	return struct {
		Role string `json:"role"`
		Client
	}{"client", snap}
}

func (c clientCollector) finished() uint64 { return c.src.FinishedJobs() }

// health is always nil: a client's listener runs exactly as long as its
// Server, which takes jobs all that time.
func (c clientCollector) health() error { return nil }
