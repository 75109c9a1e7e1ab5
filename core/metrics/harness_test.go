// The test harness: a ppserver node and clients with fake workers
// (core/internal/fakeworker) on loopback, and a way to read what a
// collector reports.

package metrics_test

import (
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/ppgo/ppgo/core/internal/fakeworker"
	"github.com/ppgo/ppgo/core/jobserver"
	"github.com/ppgo/ppgo/core/pool"
	"github.com/ppgo/ppgo/core/sched"
	"github.com/ppgo/ppgo/core/serve"
)

// deadline bounds every wait for something that should happen soon.
const deadline = 10 * time.Second

const secret = "metrics-test-secret"

func TestMain(m *testing.M) {
	fakeworker.RunIfWorker()
	os.Exit(m.Run())
}

func fakePool(t *testing.T, workers int) pool.Config {
	argv, env := fakeworker.NewHub(t, deadline).Command("echo")
	return pool.Config{Argv: argv, Env: env, Workers: workers}
}

// startNode runs a ppserver node with fake workers on a loopback port.
func startNode(t *testing.T, workers int, secret string) (*serve.Server, string) {
	t.Helper()
	return startNodePool(t, fakePool(t, workers), secret)
}

// startNodePool runs a ppserver node with the pool given on a loopback
// port.
func startNodePool(t *testing.T, p pool.Config, secret string) (*serve.Server, string) {
	t.Helper()
	srv, err := serve.New(serve.Config{Pool: p, Secret: secret})
	if err != nil {
		t.Fatalf("serve.New: %v", err)
	}
	t.Cleanup(srv.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	return srv, ln.Addr().String()
}

// newClient is a client with local fake workers, connected to nodes with
// the secret given.
func newClient(t *testing.T, local int, secret string, nodes ...string) *jobserver.Server {
	t.Helper()
	s, err := jobserver.New(jobserver.Config{Pool: fakePool(t, local), Secret: secret})
	if err != nil {
		t.Fatalf("jobserver.New: %v", err)
	}
	t.Cleanup(s.Close)
	for _, addr := range nodes {
		if err := s.Connect(addr); err != nil {
			t.Fatalf("Connect(%s): %v", addr, err)
		}
	}
	s.Register(1, []byte("source"))
	return s
}

// run submits a job with args and waits for it to end with status.
func run(t *testing.T, s *jobserver.Server, args string, timeout time.Duration, status sched.Status) {
	t.Helper()
	id, err := s.Submit(1, []byte(args), "", false, timeout)
	if err != nil {
		t.Fatalf("Submit(%q): %v", args, err)
	}
	if !s.Wait(id, deadline) {
		t.Fatalf("job %d (%q) not finished within %v", id, args, deadline)
	}
	r, _ := s.Result(id)
	if r.Status != status {
		t.Fatalf("job %d (%q): status %d, want %d (%s)", id, args, r.Status, status, r.Message)
	}
}

// waitConnected waits until every remote node of s is connected.
func waitConnected(t *testing.T, s *jobserver.Server) {
	t.Helper()
	fakeworker.Eventually(t, deadline, "nodes connected", func() bool {
		for _, n := range s.Nodes()[1:] { // after the local pool
			if !n.Connected || n.Capacity == 0 {
				return false
			}
		}
		return true
	})
}

// sample is what a collector reported: each sample by its name and
// labels, as Prometheus writes them ("name{a=\"x\",b=\"y\"}"); a histogram
// as its _count and _sum.
type sample map[string]float64

func collect(t *testing.T, c prometheus.Collector) sample {
	t.Helper()
	reg := prometheus.NewPedanticRegistry() // also checks each metric against its description
	if err := reg.Register(c); err != nil {
		t.Fatalf("Register: %v", err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	out := sample{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			name := f.GetName() + labels(m)
			switch f.GetType() {
			case dto.MetricType_HISTOGRAM:
				out[f.GetName()+"_count"+labels(m)] = float64(m.GetHistogram().GetSampleCount())
				out[f.GetName()+"_sum"+labels(m)] = m.GetHistogram().GetSampleSum()
			case dto.MetricType_COUNTER:
				out[name] = m.GetCounter().GetValue()
			default:
				out[name] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

func labels(m *dto.Metric) string {
	if len(m.GetLabel()) == 0 {
		return ""
	}
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	slices.Sort(parts)
	return "{" + strings.Join(parts, ",") + "}"
}

// want checks that got has each of the samples in want.
func (got sample) want(t *testing.T, want sample) {
	t.Helper()
	for name, v := range want {
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("no sample %s; have %v", name, got.names())
		case g != v:
			t.Errorf("%s = %v, want %v", name, g, v)
		}
	}
}

// sum adds up every sample of a metric, whatever its labels.
func (got sample) sum(metric string) float64 {
	var n float64
	for name, v := range got {
		if name == metric || strings.HasPrefix(name, metric+"{") {
			n += v
		}
	}
	return n
}

func (got sample) names() []string {
	var out []string
	for name := range got {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}
