package jobserver

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/ppgo/ppgo/core/internal/fakeworker"
	"github.com/ppgo/ppgo/core/sched"
)

const nodeSecret = "s3cret"

// nodeInfo returns the Nodes() entry named name.
func nodeInfo(t *testing.T, s *Server, name string) NodeInfo {
	t.Helper()
	for _, n := range s.Nodes() {
		if n.Name == name {
			return n
		}
	}
	t.Fatalf("no node %s in %+v", name, s.Nodes())
	return NodeInfo{}
}

// waitNode waits until node name's entry satisfies cond.
func waitNode(t *testing.T, s *Server, name, what string, cond func(NodeInfo) bool) {
	t.Helper()
	fakeworker.Eventually(t, deadline, name+": "+what, func() bool {
		for _, n := range s.Nodes() {
			if n.Name == name {
				return cond(n)
			}
		}
		return false
	})
}

func connected(capacity int) func(NodeInfo) bool {
	return func(n NodeInfo) bool { return n.Connected && n.Capacity == capacity }
}

// waitEvent skips events until one whose message contains every part.
func waitEvent(t *testing.T, s *Server, parts ...string) Event {
	t.Helper()
	end := time.Now().Add(deadline)
	var seen []string
	for {
		e, got, ok := s.NextEvent(max(time.Until(end), 0))
		if !ok {
			t.Fatalf("event queue closed waiting for %q; saw %q", parts, seen)
		}
		if !got {
			t.Fatalf("no event with %q within %v; saw %q", parts, deadline, seen)
		}
		all := true
		for _, p := range parts {
			all = all && strings.Contains(e.Message, p)
		}
		if all {
			return e
		}
		seen = append(seen, e.Message)
	}
}

// drainEvents returns every event queued now.
func drainEvents(s *Server) []Event {
	var out []Event
	for {
		e, got, _ := s.NextEvent(0)
		if !got {
			return out
		}
		out = append(out, e)
	}
}

// remoteReply waits for job id to succeed and decodes what the remote
// worker saw (its job id is the node's, not the client's).
func remoteReply(t *testing.T, s *Server, id uint64) fakeworker.Reply {
	t.Helper()
	r := result(t, s, id, sched.StatusDone)
	var rep fakeworker.Reply
	if err := json.Unmarshal(r.Data, &rep); err != nil {
		t.Fatalf("job %d: result %q: %v", id, r.Data, err)
	}
	return rep
}

// holdBlock waits for the next job to block on h and keeps the event
// referenced until the test ends: an event the test drops is garbage, the
// finalizer of its hub connection closes it, and the worker takes that as
// its release, finishing the job early.
func holdBlock(t *testing.T, h *fakeworker.Hub) fakeworker.Event {
	t.Helper()
	e := h.NextBlock(t)
	t.Cleanup(e.Release)
	return e
}

// submitBlocked submits n jobs that block on their worker, "block:0"...
func submitBlocked(t *testing.T, s *Server, n int) []uint64 {
	t.Helper()
	var ids []uint64
	for i := range n {
		ids = append(ids, submit(t, s, 1, fmt.Sprint("block:", i), "", false))
	}
	return ids
}

// wantEachOnce checks every job ended done with its own arguments.
func wantEachOnce(t *testing.T, s *Server, ids []uint64) {
	t.Helper()
	for i, id := range ids {
		if rep := remoteReply(t, s, id); rep.Args != fmt.Sprint("block:", i) {
			t.Errorf("job %d: worker saw %+v, want args block:%d", id, rep, i)
		}
	}
}

// Two nodes take jobs in proportion to their size: each gets its credits'
// worth (workers × 2) and not one more, while the rest wait in the queue.
func TestRemoteNodesShareByCapacity(t *testing.T) {
	t.Parallel()
	small := launchNode(t, "", 1, nodeSecret)
	big := launchNode(t, "", 3, nodeSecret)
	s := newClient(t, 0, nodeSecret, small.addr, big.addr)
	waitNode(t, s, small.addr, "connected with 2 credits", connected(2))
	waitNode(t, s, big.addr, "connected with 6 credits", connected(6))
	s.Register(1, []byte("src"))
	ids := submitBlocked(t, s, 8)
	extra := submit(t, s, 1, "extra", "", false)

	smallBlocked := []fakeworker.Event{holdBlock(t, small.hub)}
	var bigBlocked []fakeworker.Event
	for range 3 {
		bigBlocked = append(bigBlocked, holdBlock(t, big.hub))
	}
	fakeworker.Eventually(t, deadline, "every credit used on the nodes", func() bool {
		return small.srv.Stats().Running == 2 && big.srv.Stats().Running == 6
	})
	if sm, bg := nodeInfo(t, s, small.addr), nodeInfo(t, s, big.addr); sm.Running != 2 || bg.Running != 6 ||
		sm.Workers != 1 || bg.Workers != 3 {
		t.Fatalf("in flight: small %+v, big %+v; want 2 and 6", sm, bg)
	}
	if p := s.Pending(); p != 9 {
		t.Fatalf("Pending = %d, want 9 (8 in flight, one queued)", p)
	}
	if r, ok := s.Result(extra); ok {
		t.Fatalf("the queued job has a result: %+v", r)
	}

	// Release everything: each node runs its second wave.
	for _, e := range smallBlocked {
		e.Release()
	}
	holdBlock(t, small.hub).Release()
	for _, e := range bigBlocked {
		e.Release()
	}
	for range 3 {
		holdBlock(t, big.hub).Release()
	}
	wantEachOnce(t, s, ids)
	if rep := remoteReply(t, s, extra); rep.Args != "extra" {
		t.Errorf("extra job: worker saw %+v", rep)
	}
	sj, bj := small.srv.Stats().Jobs, big.srv.Stats().Jobs
	if sj+bj != 9 || sj < 2 || bj < 6 {
		t.Errorf("the nodes ran %d + %d jobs, want 9 in all, at least 2 and 6", sj, bj)
	}
}

// A node that refuses the secret is reported once, not at every redial;
// it gets no jobs, and the local pool runs them.
func TestRemoteWrongSecret(t *testing.T) {
	t.Parallel()
	nd := launchNode(t, "", 1, "the right secret")
	s := newClient(t, 1, "a wrong secret", nd.addr)
	// The fourth handshake starts after the client has handled the third:
	// the first attempt and two redials have had their chance to report.
	fakeworker.Eventually(t, deadline, "four refused handshakes", func() bool {
		return nd.srv.Stats().AuthFailures >= 4
	})
	var refused []Event
	for _, e := range drainEvents(s) {
		if strings.Contains(e.Message, "wrong secret") {
			refused = append(refused, e)
		}
	}
	if len(refused) != 1 || refused[0].Level != LevelWarning || !strings.Contains(refused[0].Message, nd.addr) {
		t.Fatalf("wrong-secret events %+v, want exactly one warning naming %s", refused, nd.addr)
	}
	s.Register(1, []byte("src"))
	if rep := reply(t, s, submit(t, s, 1, "local", "", false)); rep.Args != "local" {
		t.Errorf("worker saw %+v", rep)
	}
	info := nodeInfo(t, s, nd.addr)
	if info.Connected || info.Capacity != 0 || info.Jobs != 0 {
		t.Errorf("refusing node: %+v", info)
	}
	if local := nodeInfo(t, s, "local"); local.Jobs != 1 {
		t.Errorf("local: %+v", local)
	}
	if st := nd.srv.Stats(); st.Clients != 0 || st.Jobs != 0 {
		t.Errorf("node stats %+v", st)
	}
}

// A node killed with jobs on it: they go back to the queue and run
// elsewhere, each exactly once.
func TestRemoteNodeLost(t *testing.T) {
	t.Parallel()
	a := launchNode(t, "", 2, nodeSecret) // 4 credits
	b := launchNode(t, "", 1, nodeSecret) // 2 credits
	s := newClient(t, 0, nodeSecret, a.addr, b.addr)
	waitNode(t, s, a.addr, "connected", connected(4))
	waitNode(t, s, b.addr, "connected", connected(2))
	s.Register(1, []byte("src"))
	ids := submitBlocked(t, s, 6)
	holdBlock(t, a.hub)
	holdBlock(t, a.hub)
	bBlocked := holdBlock(t, b.hub)
	fakeworker.Eventually(t, deadline, "four jobs on node A, two on B", func() bool {
		return a.srv.Stats().Running == 4 && b.srv.Stats().Running == 2
	})
	drainEvents(s)

	a.srv.Close() // as good as a kill: the connection drops, nothing is reported
	waitEvent(t, s, "lost ppserver "+a.addr, "4 of its jobs re-queued")
	if info := nodeInfo(t, s, a.addr); info.Connected || info.Capacity != 0 {
		t.Errorf("lost node: %+v", info)
	}
	bBlocked.Release()
	for range 5 {
		holdBlock(t, b.hub).Release()
	}
	wantEachOnce(t, s, ids)
	if st := b.srv.Stats(); st.Jobs != 6 {
		t.Errorf("node B ran %d jobs, want 6: a job ran twice or not at all", st.Jobs)
	}
	if ai, bi := nodeInfo(t, s, a.addr), nodeInfo(t, s, b.addr); ai.Jobs != 0 || bi.Jobs != 6 || ai.Running != 0 || bi.Running != 0 {
		t.Errorf("Nodes: A %+v, B %+v", ai, bi)
	}
}

// A node that comes back on the same address is reconnected by itself.
func TestRemoteReconnect(t *testing.T) {
	t.Parallel()
	a := launchNode(t, "", 1, nodeSecret)
	s := newClient(t, 0, nodeSecret, a.addr)
	s.Register(1, []byte("src"))
	if rep := remoteReply(t, s, submit(t, s, 1, "before", "", false)); rep.Args != "before" {
		t.Fatalf("worker saw %+v", rep)
	}
	a.srv.Close()
	waitEvent(t, s, "lost ppserver "+a.addr, "0 of its jobs re-queued")
	waitNode(t, s, a.addr, "disconnected", func(n NodeInfo) bool { return !n.Connected })

	again := launchNode(t, a.addr, 2, nodeSecret)
	waitEvent(t, s, "connected to ppserver "+a.addr, "(2 workers)")
	waitNode(t, s, a.addr, "reconnected", connected(4))
	var ids []uint64
	for i := range 5 {
		ids = append(ids, submit(t, s, 1, fmt.Sprint("after-", i), "", false))
	}
	for i, id := range ids {
		if rep := remoteReply(t, s, id); rep.Args != fmt.Sprint("after-", i) || !rep.HasSource && rep.Source != "" {
			t.Errorf("job %d: worker saw %+v", id, rep)
		}
	}
	if st := again.srv.Stats(); st.Jobs != 5 || st.Clients != 1 {
		t.Errorf("new node stats %+v", st)
	}
	if info := nodeInfo(t, s, a.addr); info.Jobs != 6 || info.Workers != 2 {
		t.Errorf("Nodes entry %+v", info)
	}
}

// A node shutting down gracefully finishes and reports every job it has
// (none is re-run), takes no new ones, and then goes away.
func TestRemoteGracefulDrain(t *testing.T) {
	t.Parallel()
	nd := launchNode(t, "", 2, nodeSecret) // 4 credits
	s := newClient(t, 0, nodeSecret, nd.addr)
	waitNode(t, s, nd.addr, "connected", connected(4))
	s.Register(1, []byte("src"))
	ids := submitBlocked(t, s, 4)
	blocked := []fakeworker.Event{holdBlock(t, nd.hub), holdBlock(t, nd.hub)}
	fakeworker.Eventually(t, deadline, "four jobs on the node", func() bool { return nd.srv.Stats().Running == 4 })
	drainEvents(s)

	shutdown := make(chan error, 1)
	go func() { shutdown <- nd.srv.Shutdown(context.Background()) }()
	waitNode(t, s, nd.addr, "told to send no more", func(n NodeInfo) bool {
		return n.Connected && n.Capacity == 0 && n.Running == 4
	})
	late := submit(t, s, 1, "late", "", false)
	if info := nodeInfo(t, s, nd.addr); info.Running != 4 || s.Pending() != 5 {
		t.Fatalf("a draining node was given a job: %+v, Pending %d", info, s.Pending())
	}

	for _, e := range blocked {
		e.Release()
	}
	holdBlock(t, nd.hub).Release()
	holdBlock(t, nd.hub).Release()
	select {
	case err := <-shutdown:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(deadline):
		t.Fatal("Shutdown did not return after the last result")
	}
	if e := waitEvent(t, s, "lost ppserver "+nd.addr); !strings.Contains(e.Message, "0 of its jobs re-queued") {
		t.Fatalf("a drained node left jobs behind: %q", e.Message)
	}
	wantEachOnce(t, s, ids)
	waitNode(t, s, nd.addr, "gone", func(n NodeInfo) bool { return !n.Connected && n.Running == 0 })
	if st := nd.srv.Stats(); st.Jobs != 4 {
		t.Errorf("the node ran %d jobs, want 4", st.Jobs)
	}
	if s.Wait(late, 0) {
		r, _ := s.Result(late)
		t.Fatalf("the job submitted during the drain ended with no node to run it: %+v", r)
	}

	// It runs as soon as some node can take it.
	other := launchNode(t, "", 1, nodeSecret)
	if err := s.Connect(other.addr); err != nil {
		t.Fatal(err)
	}
	if rep := remoteReply(t, s, late); rep.Args != "late" {
		t.Errorf("late job: worker saw %+v", rep)
	}
}

// With no local workers, a job submitted before any node is connected
// waits in the queue and runs once one connects.
func TestRemoteJobWaitsForFirstNode(t *testing.T) {
	t.Parallel()
	nd := launchNode(t, "", 1, nodeSecret)
	s := newClient(t, 0, nodeSecret)
	s.Register(1, []byte("src"))
	id := submit(t, s, 1, "early", "", false)
	if s.Wait(id, 0) || s.Pending() != 1 {
		t.Fatalf("job finished with nowhere to run: Pending %d", s.Pending())
	}
	if nodes := s.Nodes(); len(nodes) != 1 || nodes[0].Capacity != 0 || nodes[0].Running != 0 {
		t.Fatalf("Nodes = %+v", nodes)
	}
	if err := s.Connect(nd.addr); err != nil {
		t.Fatal(err)
	}
	if rep := remoteReply(t, s, id); rep.Args != "early" || !rep.HasSource || rep.Source != "src" {
		t.Errorf("worker saw %+v", rep)
	}
	if st := nd.srv.Stats(); st.Jobs != 1 {
		t.Errorf("node stats %+v", st)
	}
}

// Closing the client while a node runs its jobs returns promptly and
// leaves no goroutine behind. Not parallel: it counts goroutines.
func TestRemoteCloseWithJobsInFlight(t *testing.T) {
	nd := launchNode(t, "", 2, nodeSecret)
	nd.hub.NextStart(t)
	nd.hub.NextStart(t)
	s := newClient(t, 0, nodeSecret)
	before := runtime.NumGoroutine()

	if err := s.Connect(nd.addr); err != nil {
		t.Fatal(err)
	}
	waitNode(t, s, nd.addr, "connected", connected(4))
	s.Register(1, []byte("src"))
	ids := submitBlocked(t, s, 4)
	holdBlock(t, nd.hub)
	holdBlock(t, nd.hub)
	fakeworker.Eventually(t, deadline, "four jobs on the node", func() bool { return nd.srv.Stats().Running == 4 })

	start := time.Now()
	s.Close()
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("Close took %v with jobs in flight", el)
	}
	for _, id := range ids {
		result(t, s, id, sched.StatusCancelled)
	}
	fakeworker.Eventually(t, deadline, "the node sees the client leave", func() bool { return nd.srv.Stats().Clients == 0 })
	end := time.Now().Add(deadline)
	for runtime.NumGoroutine() > before {
		if time.Now().After(end) {
			var b strings.Builder
			pprof.Lookup("goroutine").WriteTo(&b, 1)
			t.Fatalf("%d goroutines after Close, %d before Connect:\n%s", runtime.NumGoroutine(), before, b.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
}
