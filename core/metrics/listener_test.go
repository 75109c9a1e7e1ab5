package metrics_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ppgo/ppgo/core/internal/fakeworker"
	"github.com/ppgo/ppgo/core/metrics"
	"github.com/ppgo/ppgo/core/pool"
	"github.com/ppgo/ppgo/core/sched"
	"github.com/ppgo/ppgo/core/serve"
)

func TestParseAddr(t *testing.T) {
	for _, tc := range []struct {
		addr, want, err string
	}{
		{addr: "127.0.0.1:0", want: "127.0.0.1:0"},
		{addr: ":9100", want: ":9100"},
		{addr: "[::1]:9100", want: "[::1]:9100"},
		{addr: "localhost:65535", want: "localhost:65535"},
		{addr: "9100", err: "want HOST:PORT or :PORT"},
		{addr: "", err: "want HOST:PORT or :PORT"},
		{addr: "::1:9100", err: "want HOST:PORT or :PORT"},
		{addr: "localhost:http", err: `port "http" is not a number from 0 to 65535`},
		{addr: "127.0.0.1:65536", err: `port "65536" is not a number`},
		{addr: "127.0.0.1:-1", err: `port "-1" is not a number`},
	} {
		got, err := metrics.ParseAddr(tc.addr)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("ParseAddr(%q): %v", tc.addr, err)
		case tc.err == "" && got != tc.want:
			t.Errorf("ParseAddr(%q) = %q, want %q", tc.addr, got, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseAddr(%q): error %v, want one saying %q", tc.addr, err, tc.err)
		case tc.err != "" && !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.addr)):
			t.Errorf("ParseAddr(%q): error %q does not name the address", tc.addr, err)
		}
	}
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return res, string(body)
}

func TestClientListener(t *testing.T) {
	s := newClient(t, 1, secret)
	addr, err := s.ServeMetrics("127.0.0.1:0")
	if err != nil {
		t.Fatalf("ServeMetrics: %v", err)
	}
	if host, port, _ := net.SplitHostPort(addr); host != "127.0.0.1" || port == "0" {
		t.Fatalf("bound to %s: want 127.0.0.1 and the port it got", addr)
	}
	if s.MetricsAddress() != addr {
		t.Errorf("MetricsAddress = %q, want %q", s.MetricsAddress(), addr)
	}
	for range 3 {
		run(t, s, "job", 0, sched.StatusDone)
	}
	base := "http://" + addr

	_, body := get(t, base+"/metrics")
	for _, line := range []string{`ppgo_client_node_jobs_done_total{node="local"} 3`, "go_goroutines ", "process_cpu_seconds_total "} {
		if !strings.Contains(body, line) {
			t.Errorf("/metrics has no %q:\n%s", line, body)
		}
	}

	res, body := get(t, base+"/status.json")
	var doc struct {
		Status  metrics.Client `json:"status"`
		Rate    []float64      `json:"rate"`
		Seconds float64        `json:"seconds"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("status.json: %v\n%s", err, body)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("status.json is %q", ct)
	}
	if n := doc.Status.Nodes; len(n) != 1 || n[0].Name != "local" || n[0].Done != 3 || n[0].Workers != 1 {
		t.Errorf("status.json nodes: %+v, want local with 3 done on 1 worker", n)
	}
	if doc.Seconds <= 0 {
		t.Errorf("status.json: rate step %v", doc.Seconds)
	}
	if strings.Contains(body, secret) {
		t.Errorf("status.json shows the secret: %s", body)
	}

	res, body = get(t, base+"/")
	if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, "status.json") {
		t.Errorf("/ is %q: %.200s", res.Header.Get("Content-Type"), body)
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("/ has policy %q: the page may fetch from elsewhere", csp)
	}
	if res, body := get(t, base+"/healthz"); res.StatusCode != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz of a running client: %s %q, want 200 \"ok\"", res.Status, body)
	}
	if res, _ := get(t, base+"/elsewhere"); res.StatusCode != http.StatusNotFound {
		t.Errorf("/elsewhere: %s, want 404", res.Status)
	}

	if _, err := s.ServeMetrics("127.0.0.1:0"); err == nil || !strings.Contains(err.Error(), "already served on "+addr) {
		t.Errorf("second ServeMetrics: %v, want an error naming %s", err, addr)
	}
	s.Close()
	if _, err := http.Get(base + "/metrics"); err == nil {
		t.Error("the listener still answers after Close")
	}
	if _, err := s.ServeMetrics("127.0.0.1:0"); err == nil || !strings.Contains(err.Error(), "server closed") {
		t.Errorf("ServeMetrics after Close: %v, want an error", err)
	}
}

func TestListenErrors(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	s := newClient(t, 0, secret)
	for addr, want := range map[string]string{
		taken.Addr().String(): "metrics: listen on " + taken.Addr().String(),
		"9100":                "want HOST:PORT or :PORT",
	} {
		if _, err := s.ServeMetrics(addr); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ServeMetrics(%q): %v, want an error saying %q", addr, err, want)
		}
	}
	if s.MetricsAddress() != "" {
		t.Errorf("MetricsAddress after failures: %q", s.MetricsAddress())
	}
}

func TestNodeListener(t *testing.T) {
	node, addr := startNode(t, 1, secret)
	l, err := metrics.ServeNode("127.0.0.1:0", node, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s := newClient(t, 0, secret, addr)
	waitConnected(t, s)
	run(t, s, "job", 0, sched.StatusDone)
	_, body := get(t, "http://"+l.Addr()+"/status.json")
	var doc struct {
		Status struct {
			Role    string `json:"role"`
			Workers int    `json:"workers"`
			Done    int    `json:"done"`
			Clients []struct {
				Addr string `json:"addr"`
				Done int    `json:"done"`
			} `json:"clients"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("status.json: %v\n%s", err, body)
	}
	st := doc.Status
	if st.Role != "ppserver" || st.Workers != 1 || st.Done != 1 || len(st.Clients) != 1 || st.Clients[0].Done != 1 {
		t.Errorf("status.json: %s, want a ppserver with 1 worker and 1 client, 1 job done", body)
	}
	l.Close()
	l.Close() // a second Close does nothing
}

// TestNodeHealth follows a ppserver node's /healthz through its life: ok
// while it serves; 503, saying it drains and what it waits for, while
// Shutdown waits for a running job; 503, saying it is closed, after.
func TestNodeHealth(t *testing.T) {
	hub := fakeworker.NewHub(t, deadline)
	argv, env := hub.Command("echo")
	node, addr := startNodePool(t, pool.Config{Argv: argv, Env: env, Workers: 1}, secret)
	l, err := metrics.ServeNode("127.0.0.1:0", node, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	health := "http://" + l.Addr() + "/healthz"

	res, body := get(t, health)
	if res.StatusCode != http.StatusOK || body != "ok\n" {
		t.Fatalf("/healthz while serving: %s %q, want 200 \"ok\"", res.Status, body)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("/healthz Cache-Control %q: a cached answer would hide a drain", cc)
	}

	s := newClient(t, 0, secret, addr)
	waitConnected(t, s)
	id, err := s.Submit(1, []byte("block"), "", false, 0)
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	blocked := hub.NextBlock(t)
	defer blocked.Release()
	shutdown := make(chan error, 1)
	go func() { shutdown <- node.Shutdown(context.Background()) }()
	// Nothing announces that Shutdown has begun but the state it sets.
	fakeworker.Eventually(t, deadline, "node draining", func() bool {
		return node.State() == serve.Draining
	})
	res, body = get(t, health)
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/healthz while draining: %s, want 503", res.Status)
	}
	if !strings.HasPrefix(body, "draining: ") || !strings.Contains(body, "1 job(s) still running") ||
		strings.Count(body, "\n") != 1 || !strings.HasSuffix(body, "\n") {
		t.Errorf("/healthz while draining says %q, want one line: draining, 1 job still running", body)
	}
	if res, _ := get(t, "http://"+l.Addr()+"/metrics"); res.StatusCode != http.StatusOK {
		t.Errorf("/metrics while draining: %s, want it still scraped", res.Status)
	}

	blocked.Release()
	if !s.Wait(id, deadline) {
		t.Fatalf("the running job did not finish within %v of its release", deadline)
	}
	if r, _ := s.Result(id); r.Status != sched.StatusDone {
		t.Errorf("the job the node drained: status %d (%s), want done", r.Status, r.Message)
	}
	select {
	case err := <-shutdown:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(deadline):
		t.Fatalf("Shutdown did not return within %v of the last job", deadline)
	}
	res, body = get(t, health)
	if res.StatusCode != http.StatusServiceUnavailable || body != "closed: ppserver has stopped serving\n" {
		t.Errorf("/healthz once closed: %s %q, want 503 and why", res.Status, body)
	}
}
