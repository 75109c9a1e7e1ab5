package metrics_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/ppgo/ppgo/core/internal/fakeworker"
	"github.com/ppgo/ppgo/core/metrics"
	"github.com/ppgo/ppgo/core/sched"
)

// jobTimeout is the limit of the jobs a test makes time out: they never
// end by themselves ("hang"), so any limit does.
const jobTimeout = 50 * time.Millisecond

func TestClientCollectorCountsWhatRan(t *testing.T) {
	_, good := startNode(t, 2, secret)
	_, wrong := startNode(t, 1, "another secret")
	s := newClient(t, 1, secret, good, wrong)
	fakeworker.Eventually(t, deadline, "the node to connect and the other to refuse", func() bool {
		var ok, refused bool
		for _, n := range s.MetricsSnapshot().Nodes {
			ok = ok || (n.Name == good && n.Capacity > 0)
			refused = refused || (n.Name == wrong && n.AuthFailures > 0)
		}
		return ok && refused
	})
	const done = 20
	for i := range done {
		run(t, s, fmt.Sprint("job ", i), 0, sched.StatusDone)
	}
	run(t, s, "exit:1", 0, sched.StatusFailed)          // its worker dies on every attempt
	run(t, s, "hang", jobTimeout, sched.StatusTimedOut) // killed at its limit

	c := metrics.NewClientCollector(s)
	got := collect(t, c)
	got.want(t, sample{
		"ppgo_client_jobs_queued":                                0,
		"ppgo_client_jobs_pending":                               0,
		"ppgo_client_jobs_cancelled_total":                       0,
		`ppgo_client_node_connected{node="local"}`:               1,
		`ppgo_client_node_connected{node="` + good + `"}`:        1,
		`ppgo_client_node_connected{node="` + wrong + `"}`:       0,
		`ppgo_client_node_workers{node="local"}`:                 1,
		`ppgo_client_node_workers{node="` + good + `"}`:          2,
		`ppgo_client_node_capacity{node="` + wrong + `"}`:        0,
		`ppgo_client_node_jobs_done_total{node="` + wrong + `"}`: 0,
	})
	for metric, want := range map[string]float64{
		"ppgo_client_node_jobs_done_total":       done,
		"ppgo_client_job_duration_seconds_count": done,
		"ppgo_client_node_jobs_failed_total":     2, // "exit:1" after its last attempt, and "hang"
		"ppgo_client_node_jobs_retried_total":    sched.DefaultMaxAttempts - 1,
		"ppgo_client_node_jobs_running":          0,
	} {
		if n := got.sum(metric); n != want {
			t.Errorf("%s adds up to %v over the nodes, want %v", metric, n, want)
		}
	}
	if n := got[`ppgo_client_node_auth_failures_total{node="`+wrong+`"}`]; n < 1 {
		t.Errorf("auth failures at the node with another secret: %v, want at least 1", n)
	}
	for _, dir := range []string{"received", "sent"} {
		if n := got[`ppgo_client_node_`+dir+`_bytes_total{node="`+good+`"}`]; n == 0 {
			t.Errorf("no bytes %s from the node", dir)
		}
	}

	// A job still waiting when the server closes is cancelled.
	if _, err := s.Submit(1, []byte("hang"), "", false, 0); err != nil {
		t.Fatal(err)
	}
	s.Close()
	collect(t, c).want(t, sample{"ppgo_client_jobs_cancelled_total": 1, "ppgo_client_jobs_pending": 0})
}

func TestNodeCollectorCountsEachClient(t *testing.T) {
	node, addr := startNode(t, 2, secret)
	s := newClient(t, 0, secret, addr)
	waitConnected(t, s)
	const done = 10
	for i := range done {
		run(t, s, fmt.Sprint("job ", i), 0, sched.StatusDone)
	}
	run(t, s, "exit:1", 0, sched.StatusFailed)
	run(t, s, "hang", jobTimeout, sched.StatusTimedOut)

	c := metrics.NewNodeCollector(node)
	got := collect(t, c)
	got.want(t, sample{
		"ppgo_server_workers":                               2,
		"ppgo_server_clients":                               1,
		"ppgo_server_jobs_queued":                           0,
		"ppgo_server_jobs_running":                          0,
		"ppgo_server_jobs_done_total":                       done,
		`ppgo_server_jobs_failed_total{reason="lost"}`:      sched.DefaultMaxAttempts,
		`ppgo_server_jobs_failed_total{reason="timed_out"}`: 1,
		"ppgo_server_job_duration_seconds_count":            done,
		"ppgo_server_auth_failures_total":                   0,
	})
	// One client, whose counters are the node's so far.
	clients := node.Clients()
	if len(clients) != 1 {
		t.Fatalf("%d clients, want 1", len(clients))
	}
	client := `{client="` + clients[0].Addr + `"}`
	got.want(t, sample{
		"ppgo_server_client_jobs_done_total" + client:                                          done,
		`ppgo_server_client_jobs_failed_total{client="` + clients[0].Addr + `",reason="lost"}`: sched.DefaultMaxAttempts,
		"ppgo_server_client_jobs_running" + client:                                             0,
	})
	for _, dir := range []string{"received", "sent"} {
		if n := got["ppgo_server_client_"+dir+"_bytes_total"+client]; n == 0 || n > got["ppgo_server_"+dir+"_bytes_total"] {
			t.Errorf("client's bytes %s: %v, want more than 0 and at most the node's %v",
				dir, n, got["ppgo_server_"+dir+"_bytes_total"])
		}
	}

	// A client with the wrong secret fails its handshakes; one that leaves
	// takes its series along, and the node's totals stay.
	newClient(t, 0, "wrong secret", addr)
	fakeworker.Eventually(t, deadline, "an auth failure", func() bool {
		return collect(t, c)["ppgo_server_auth_failures_total"] >= 1
	})
	s.Close()
	fakeworker.Eventually(t, deadline, "the client to leave", func() bool {
		return len(node.Clients()) == 0
	})
	got = collect(t, c)
	got.want(t, sample{"ppgo_server_clients": 0, "ppgo_server_jobs_done_total": done})
	if n := got.sum("ppgo_server_client_jobs_done_total"); n != 0 {
		t.Errorf("a client that left still has %v jobs done", n)
	}
}
