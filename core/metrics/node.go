package metrics

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ppgo/ppgo/core/serve"
)

// NodeSource is a ppserver's node as the collector reads it
// (*serve.Server). Each call is made on every scrape and every poll of
// the status page, and must not block for long.
type NodeSource interface {
	Stats() serve.Stats
	Clients() []serve.ClientStats
	Backlog() int
	BusyWorkers() int
	State() serve.State
}

var _ NodeSource = (*serve.Server)(nil)

// ServeNode serves a ppserver's metrics and status page on addr (see
// ParseAddr).
func ServeNode(addr string, src NodeSource, log *slog.Logger) (*Listener, error) {
	return listen(addr, nodeCollector{src}, log)
}

// The ppserver's metrics: the node's totals since it started, and per
// connected client, labelled client ("host:port"), for as long as it is
// connected. Failed jobs are labelled with the reason: lost (the worker
// died: the client runs the job again) or timed_out.
var (
	srvWorkers     = prometheus.NewDesc("ppgo_server_workers", "Worker processes.", nil, nil)
	srvBusy        = prometheus.NewDesc("ppgo_server_workers_busy", "Worker processes running a job.", nil, nil)
	srvClients     = prometheus.NewDesc("ppgo_server_clients", "Connected, authenticated clients.", nil, nil)
	srvQueued      = prometheus.NewDesc("ppgo_server_jobs_queued", "Jobs waiting for a worker.", nil, nil)
	srvRunning     = prometheus.NewDesc("ppgo_server_jobs_running", "Jobs taken from clients and not yet finished.", nil, nil)
	srvDone        = prometheus.NewDesc("ppgo_server_jobs_done_total", "Jobs completed.", nil, nil)
	srvFailed      = prometheus.NewDesc("ppgo_server_jobs_failed_total", "Jobs not completed, by reason.", []string{"reason"}, nil)
	srvCancelled   = prometheus.NewDesc("ppgo_server_jobs_cancelled_total", "Jobs dropped unstarted because their client cancelled them.", nil, nil)
	srvBytesIn     = prometheus.NewDesc("ppgo_server_received_bytes_total", "Bytes read from client connections.", nil, nil)
	srvBytesOut    = prometheus.NewDesc("ppgo_server_sent_bytes_total", "Bytes written to client connections.", nil, nil)
	srvUnsent      = prometheus.NewDesc("ppgo_server_unsent_bytes", "Results' bytes not yet written to their clients.", nil, nil)
	srvAuthFailed  = prometheus.NewDesc("ppgo_server_auth_failures_total", "Handshakes that failed (wrong secret, protocol, or timeout).", nil, nil)
	srvRefused     = prometheus.NewDesc("ppgo_server_refused_connections_total", "Connections closed unheard: over a handshake limit.", nil, nil)
	srvSlow        = prometheus.NewDesc("ppgo_server_slow_consumers_total", "Clients dropped for not reading their results.", nil, nil)
	srvJobDuration = prometheus.NewDesc("ppgo_server_job_duration_seconds", "Run time of completed jobs.", nil, nil)

	clientLabels    = []string{"client"}
	cliQueued       = prometheus.NewDesc("ppgo_server_client_jobs_queued", "The client's jobs waiting for a worker.", clientLabels, nil)
	cliRunning      = prometheus.NewDesc("ppgo_server_client_jobs_running", "The client's jobs taken and not yet finished.", clientLabels, nil)
	cliDone         = prometheus.NewDesc("ppgo_server_client_jobs_done_total", "The client's jobs completed on this connection.", clientLabels, nil)
	cliFailed       = prometheus.NewDesc("ppgo_server_client_jobs_failed_total", "The client's jobs not completed, by reason.", []string{"client", "reason"}, nil)
	cliCancelled    = prometheus.NewDesc("ppgo_server_client_jobs_cancelled_total", "The client's jobs dropped unstarted at its request.", clientLabels, nil)
	cliBytesIn      = prometheus.NewDesc("ppgo_server_client_received_bytes_total", "Bytes read from the client's connection.", clientLabels, nil)
	cliBytesOut     = prometheus.NewDesc("ppgo_server_client_sent_bytes_total", "Bytes written to the client's connection.", clientLabels, nil)
	failedLost      = "lost"
	failedTimedOut  = "timed_out"
	nodeDescriptors = []*prometheus.Desc{srvWorkers, srvBusy, srvClients, srvQueued, srvRunning,
		srvDone, srvFailed, srvCancelled, srvBytesIn, srvBytesOut, srvUnsent, srvAuthFailed,
		srvRefused, srvSlow, srvJobDuration, cliQueued, cliRunning, cliDone, cliFailed,
		cliCancelled, cliBytesIn, cliBytesOut}
)

// nodeCollector reads a ppserver's counters on each scrape.
type nodeCollector struct{ src NodeSource }

// NewNodeCollector returns a collector of src's metrics.
func NewNodeCollector(src NodeSource) prometheus.Collector {
	return nodeCollector{src}
}

func (c nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range nodeDescriptors {
		ch <- d
	}
}

func (c nodeCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Stats()
	gauge(ch, srvWorkers, float64(st.Workers))
	gauge(ch, srvBusy, float64(c.src.BusyWorkers()))
	gauge(ch, srvClients, float64(st.Clients))
	gauge(ch, srvQueued, float64(c.src.Backlog()))
	gauge(ch, srvRunning, float64(st.Running))
	counter(ch, srvDone, float64(st.Jobs))
	counter(ch, srvFailed, float64(st.Lost), failedLost)
	counter(ch, srvFailed, float64(st.TimedOut), failedTimedOut)
	counter(ch, srvCancelled, float64(st.Cancelled))
	counter(ch, srvBytesIn, float64(st.BytesIn))
	counter(ch, srvBytesOut, float64(st.BytesOut))
	gauge(ch, srvUnsent, float64(st.UnsentBytes))
	counter(ch, srvAuthFailed, float64(st.AuthFailures))
	counter(ch, srvRefused, float64(st.Refused))
	counter(ch, srvSlow, float64(st.SlowConsumers))
	histogram(ch, srvJobDuration, &st.Times)
	for _, cl := range c.src.Clients() {
		gauge(ch, cliQueued, float64(cl.Queued), cl.Addr)
		gauge(ch, cliRunning, float64(cl.Running), cl.Addr)
		counter(ch, cliDone, float64(cl.Jobs), cl.Addr)
		counter(ch, cliFailed, float64(cl.Lost), cl.Addr, failedLost)
		counter(ch, cliFailed, float64(cl.TimedOut), cl.Addr, failedTimedOut)
		counter(ch, cliCancelled, float64(cl.Cancelled), cl.Addr)
		counter(ch, cliBytesIn, float64(cl.BytesIn), cl.Addr)
		counter(ch, cliBytesOut, float64(cl.BytesOut), cl.Addr)
	}
}

// nodeStatus is what the status page shows of a ppserver.
type nodeStatus struct {
	Role     string         `json:"role"`
	Workers  int            `json:"workers"`
	Busy     int            `json:"busy"`
	Queued   int            `json:"queued"`
	Running  int            `json:"running"`
	Done     uint64         `json:"done"`
	Failed   uint64         `json:"failed"`
	Uptime   float64        `json:"uptime"` // seconds
	Clients  []clientStatus `json:"clients"`
	BytesIn  uint64         `json:"bytes_in"`
	BytesOut uint64         `json:"bytes_out"`
}

type clientStatus struct {
	Addr    string  `json:"addr"`
	Since   float64 `json:"since"` // seconds connected
	Queued  int     `json:"queued"`
	Running int     `json:"running"`
	Done    uint64  `json:"done"`
	Failed  uint64  `json:"failed"`
}

func (c nodeCollector) status() any {
	st := c.src.Stats()
	now := time.Now()
	out := nodeStatus{
		Role: "ppserver", Workers: st.Workers, Busy: c.src.BusyWorkers(), Queued: c.src.Backlog(),
		Running: st.Running, Done: st.Jobs, Failed: st.Lost + st.TimedOut,
		Uptime: now.Sub(st.Started).Seconds(), Clients: []clientStatus{},
		BytesIn: st.BytesIn, BytesOut: st.BytesOut,
	}
	clients := c.src.Clients()
	slices.SortFunc(clients, func(a, b serve.ClientStats) int { return strings.Compare(a.Addr, b.Addr) })
	for _, cl := range clients {
		out.Clients = append(out.Clients, clientStatus{
			Addr: cl.Addr, Since: now.Sub(cl.Since).Seconds(), Queued: cl.Queued,
			Running: cl.Running, Done: cl.Jobs, Failed: cl.Lost + cl.TimedOut,
		})
	}
	return out
}

func (c nodeCollector) finished() uint64 {
	st := c.src.Stats()
	return st.Jobs + st.Lost + st.TimedOut
}

// health is nil while the node serves. Draining, it says so and how many
// jobs it still waits for: the probe that reads it takes the pod out of
// the Service's DNS answer, and clients move their work elsewhere.
func (c nodeCollector) health() error {
	switch st := c.src.State(); st {
	case serve.Serving:
		return nil
	case serve.Draining:
		return fmt.Errorf("draining: ppserver is stopping, takes no new clients or jobs, %d job(s) still running",
			c.src.Stats().Running)
	default:
		return fmt.Errorf("%s: ppserver has stopped serving", st)
	}
}
