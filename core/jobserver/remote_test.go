package jobserver

import (
	"encoding/json"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/ppgo/ppgo/core/internal/fakeworker"
	"github.com/ppgo/ppgo/core/pool"
	"github.com/ppgo/ppgo/core/sched"
	"github.com/ppgo/ppgo/core/serve"
)

// fakePool describes n fake workers reporting to hub h.
func fakePool(h *fakeworker.Hub, n int) pool.Config {
	argv, env := h.Command("echo")
	return pool.Config{Argv: argv, Env: env, Workers: n}
}

// startNode runs a ppserver node with n fake workers on a loopback port.
func startNode(t *testing.T, n int, secret string) (*serve.Server, string) {
	t.Helper()
	nd := launchNode(t, "", n, secret)
	return nd.srv, nd.addr
}

// testNode is a ppserver node and the hub of its fake workers.
type testNode struct {
	srv  *serve.Server
	addr string
	hub  *fakeworker.Hub
}

// launchNode runs a node with n fake workers on addr, a free loopback
// port when empty. A port a closed node used may take a moment to free.
func launchNode(t *testing.T, addr string, n int, secret string) *testNode {
	t.Helper()
	h := fakeworker.NewHub(t, deadline)
	srv, err := serve.New(serve.Config{Pool: fakePool(h, n), Secret: secret})
	if err != nil {
		t.Fatalf("serve.New: %v", err)
	}
	t.Cleanup(srv.Close)
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	fakeworker.Eventually(t, deadline, "listen on "+addr, func() bool {
		ln, err = net.Listen("tcp", addr)
		return err == nil
	})
	go srv.Serve(ln)
	return &testNode{srv: srv, addr: ln.Addr().String(), hub: h}
}

// newClient is a jobserver with local fake workers, connected to addrs.
func newClient(t *testing.T, local int, secret string, addrs ...string) *Server {
	t.Helper()
	return connectedClient(t, Config{Secret: secret}, local, addrs...)
}

// connectedClient is a jobserver configured by cfg with local fake
// workers (its Pool), connected to addrs.
func connectedClient(t *testing.T, cfg Config, local int, addrs ...string) *Server {
	t.Helper()
	cfg.Pool = fakePool(fakeworker.NewHub(t, deadline), local)
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(s.Close)
	for _, a := range addrs {
		if err := s.Connect(a); err != nil {
			t.Fatalf("Connect(%s): %v", a, err)
		}
	}
	return s
}

func TestRemoteJobsRunOnNode(t *testing.T) {
	node, addr := startNode(t, 2, "s3cret")
	s := newClient(t, 0, "s3cret", addr)
	s.Register(1, []byte("src-one"))
	var ids []uint64
	for i := range 50 {
		ids = append(ids, submit(t, s, 1, fmt.Sprint("job-", i), "", false))
	}
	for i, id := range ids {
		r := result(t, s, id, sched.StatusDone)
		var rep fakeworker.Reply
		if err := json.Unmarshal(r.Data, &rep); err != nil {
			t.Fatalf("job %d: %v", id, err)
		}
		if rep.Args != fmt.Sprint("job-", i) || rep.HasSource && rep.Source != "src-one" {
			t.Errorf("job %d: reply %+v", id, rep)
		}
	}
	if st := node.Stats(); st.Jobs != 50 || st.Clients != 1 {
		t.Errorf("node stats %+v", st)
	}
	nodes := s.Nodes()
	if len(nodes) != 2 || nodes[1].Name != addr || !nodes[1].Connected || nodes[1].Workers != 2 || nodes[1].Jobs != 50 {
		t.Errorf("Nodes = %+v", nodes)
	}
	_ = time.Second
}
