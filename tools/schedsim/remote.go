package main

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/ppgo/ppgo/core/auth"
	"github.com/ppgo/ppgo/core/remote"
	"github.com/ppgo/ppgo/core/sched"
	"github.com/ppgo/ppgo/core/wire"
)

// The remote simulation runs the client's side of many ppservers for
// real: each node is a core/remote Node with its own authenticated,
// sealed connection on loopback, and the scheduler dispatches to them as
// to any node. What answers is a fake ppserver in the same process that
// replies to each burst of jobs with one write of their results, at once:
// no pool, no workers. Its CPU time per job is the client's remote path
// (links, the wire, the scheduler) and the fake servers' decoding and
// encoding, both of which are constant per job; what grows with the nodes
// is the hand-offs, as the jobs of a burst spread over more connections.

// simSecret is the fake ppservers' secret; the connections are loopback
// and live for one run.
const simSecret = "schedsim: loopback only, one run"

// connectWait bounds how long the nodes may take to connect.
const connectWait = time.Minute

// fakeServers accepts connections on loopback and serves each as a
// ppserver offering credits jobs in flight.
type fakeServers struct {
	ln      net.Listener
	credits int
	wg      sync.WaitGroup

	mu    sync.Mutex
	conns []net.Conn
}

func startFakeServers(credits int) (*fakeServers, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the fake ppservers: %w", err)
	}
	f := &fakeServers{ln: ln, credits: credits}
	f.wg.Add(1)
	go f.accept()
	return f, nil
}

func (f *fakeServers) addr() string { return f.ln.Addr().String() }

func (f *fakeServers) accept() {
	defer f.wg.Done()
	for {
		nc, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		f.conns = append(f.conns, nc)
		f.mu.Unlock()
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer nc.Close()
			f.serve(wire.NewConn(nc))
		}()
	}
}

// serve answers every job with a result holding its arguments; a burst of
// jobs gets its results in one write.
func (f *fakeServers) serve(c *wire.Conn) {
	offer := auth.Offer{Workers: f.credits, Credits: f.credits}
	if err := auth.Server(c, []byte(simSecret), offer, connectWait); err != nil {
		return
	}
	c.SetMaxFrame(wire.DefaultMaxFrame)
	var werr error
	_ = c.ReadBursts("client", time.Hour, func(m wire.Message) error {
		if j, ok := m.(*wire.Job); ok && werr == nil {
			werr = c.Write(&wire.Result{ID: j.ID, Status: wire.StatusDone, Data: j.Args})
		}
		return werr
	}, func() {
		if werr == nil {
			werr = c.Flush()
		}
	})
}

// close stops accepting, closes every connection and waits for their
// goroutines.
func (f *fakeServers) close() {
	f.ln.Close()
	f.mu.Lock()
	for _, nc := range f.conns {
		nc.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// runRemote measures jobs job lives on sh with remote nodes, the client
// keeping out jobs submitted and not yet collected. Each node is granted
// twice its workers in credits, a ppserver's window for long jobs.
func runRemote(sh Shape, jobs, out int, mode string) (Figures, error) {
	servers, err := startFakeServers(2 * sh.Workers)
	if err != nil {
		return Figures{}, err
	}
	defer servers.close()
	s := sched.New(sched.Config{})
	defer s.Close()
	nodes := make([]*remote.Node, sh.Nodes)
	for i := range nodes {
		nodes[i] = remote.New(remote.Config{Addr: servers.addr(), Secret: simSecret, Redial: true}, s)
		s.AddNode(nodes[i], 0)
		nodes[i].Start()
	}
	defer func() {
		for _, n := range nodes {
			n.Close()
		}
	}()
	if err := connected(nodes); err != nil {
		return Figures{}, err
	}
	f := Figures{Shape: sh, Mode: mode, Jobs: jobs}
	fn := &sched.Func{Key: 1, Source: []byte("def f(x): return x")}
	m := startMeter()
	if err := drive(s, jobs, out, func() *sched.Job {
		return &sched.Job{Func: fn, Args: payload, Notify: true}
	}); err != nil {
		return Figures{}, err
	}
	m.stop(&f)
	perNode := make([]int, len(nodes))
	for i, st := range s.Stats() {
		perNode[i] = st.Jobs
	}
	f.shares(perNode)
	return f, nil
}

// connected waits until every node has connected.
func connected(nodes []*remote.Node) error {
	end := time.Now().Add(connectWait)
	for _, n := range nodes {
		for !n.State().Connected {
			if time.Now().After(end) {
				return errors.New("the nodes did not all connect to the fake ppservers within " + connectWait.String())
			}
			time.Sleep(time.Millisecond)
		}
	}
	return nil
}
