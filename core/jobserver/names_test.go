package jobserver

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ppgo/ppgo/core/internal/fakeworker"
)

// lookup is one answer a scriptedResolver gives.
type lookup struct {
	addrs []netip.Addr
	err   error
}

// scriptedResolver answers each lookup with what the test sends next, so
// the test knows which answer the client has acted on; it records the
// hosts asked for.
type scriptedResolver struct {
	answers chan lookup
	asked   chan string
}

func newScriptedResolver() *scriptedResolver {
	return &scriptedResolver{answers: make(chan lookup), asked: make(chan string, 64)}
}

func (r *scriptedResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if network != "ip" {
		return nil, fmt.Errorf("lookup of network %q, want \"ip\"", network)
	}
	select {
	case r.asked <- host:
	default:
	}
	select {
	case a := <-r.answers:
		return a.addrs, a.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// answer hands the next lookup addrs (or err).
func (r *scriptedResolver) answer(t *testing.T, err error, addrs ...string) {
	t.Helper()
	var l lookup
	for _, a := range addrs {
		l.addrs = append(l.addrs, netip.MustParseAddr(a))
	}
	l.err = err
	select {
	case r.answers <- l:
	case <-time.After(deadline):
		t.Fatalf("the client did not look the name up within %v", deadline)
	}
}

// nameClient is a client with no local workers whose named nodes are
// resolved by r, looked up again as soon as the last answer is acted on.
func nameClient(t *testing.T, r Resolver, addrs ...string) *Server {
	t.Helper()
	return connectedClient(t, Config{Secret: nodeSecret, Resolver: r, ResolveEvery: time.Millisecond}, 0, addrs...)
}

// twoNodes starts a node with one fake worker on 127.0.0.2 and one on
// 127.0.0.3, on the same port, as the pods behind one Service name.
func twoNodes(t *testing.T) (a, b *testNode, port string) {
	t.Helper()
	a = launchNode(t, "127.0.0.2:0", 1, nodeSecret)
	_, port, _ = net.SplitHostPort(a.addr)
	b = launchNode(t, "127.0.0.3:"+port, 1, nodeSecret)
	return a, b, port
}

// A name's addresses come and go during a run: each address is a node
// that joins when listed and leaves when not, its jobs re-queued to the
// others; one listed again comes back as the same node. Every job runs
// to its result exactly once.
func TestNameNodesFollowTheAddresses(t *testing.T) {
	t.Parallel()
	a, b, port := twoNodes(t)
	entry := "pods.test:" + port
	nameA, nameB := entry+" (127.0.0.2)", entry+" (127.0.0.3)"
	res := newScriptedResolver()
	s := nameClient(t, res, entry)
	if host := <-res.asked; host != "pods.test" {
		t.Fatalf("looked up %q, want pods.test", host)
	}

	res.answer(t, nil, "127.0.0.2")
	waitNode(t, s, nameA, "connected", connected(2))
	s.Register(1, []byte("src"))
	ids := submitBlocked(t, s, 4)
	onA := holdBlock(t, a.hub)
	fakeworker.Eventually(t, deadline, "two jobs on A", func() bool { return a.srv.Stats().Running == 2 })

	res.answer(t, nil, "127.0.0.3", "127.0.0.2", "127.0.0.3") // unsorted, repeated
	waitEvent(t, s, "pods.test resolves to 127.0.0.2, 127.0.0.3", "new: 127.0.0.3")
	waitNode(t, s, nameB, "connected", connected(2))
	onB := holdBlock(t, b.hub)
	fakeworker.Eventually(t, deadline, "the other two jobs on B", func() bool { return b.srv.Stats().Running == 2 })

	// A's address goes: its two jobs come back and wait for B.
	res.answer(t, nil, "127.0.0.3")
	waitEvent(t, s, "lost ppserver "+nameA, "no longer resolves to 127.0.0.2", "2 of its jobs re-queued")
	if info := nodeInfo(t, s, nameA); info.Connected || info.Capacity != 0 {
		t.Errorf("node of a vanished address: %+v", info)
	}
	// What A's worker still runs, it runs for nobody now: the job it holds,
	// and any the node had put in the worker's pipe behind it.
	onA.Release()
	a.hub.ReleaseBlocks()
	onB.Release()
	for range 3 {
		holdBlock(t, b.hub).Release()
	}
	wantEachOnce(t, s, ids)

	// Listed again, A comes back as the same node and takes work.
	res.answer(t, nil, "127.0.0.2", "127.0.0.3")
	// Its credits may have grown: a node grants more once it has timed short jobs.
	waitNode(t, s, nameA, "reconnected", func(n NodeInfo) bool { return n.Connected && n.Capacity > 0 })
	more := submit(t, s, 1, "more", "", false)
	if rep := remoteReply(t, s, more); rep.Args != "more" {
		t.Errorf("job after A's return: worker saw %+v", rep)
	}
	var names []string
	for _, n := range s.Nodes() {
		names = append(names, n.Name)
	}
	if want := []string{"local", nameA, nameB}; !slices.Equal(names, want) {
		t.Errorf("Nodes = %q, want %q: an address that came back is the same node", names, want)
	}
	if st := b.srv.Stats(); st.Jobs < 4 {
		t.Errorf("B ran %d jobs, want at least A's two re-queued and its own two", st.Jobs)
	}
}

// A lookup that fails keeps the nodes (a DNS hiccup must not drop a
// cluster) and is reported once; a name that is gone drops them all.
func TestNameLookupFailures(t *testing.T) {
	t.Parallel()
	a, _, port := twoNodes(t)
	entry := "pods.test:" + port
	nameA := entry + " (127.0.0.2)"
	res := newScriptedResolver()
	s := nameClient(t, res, entry)
	res.answer(t, nil, "127.0.0.2")
	waitNode(t, s, nameA, "connected", connected(2))

	timeout := &net.DNSError{Err: "i/o timeout", Name: "pods.test", IsTimeout: true}
	res.answer(t, timeout)
	res.answer(t, timeout)
	res.answer(t, nil, "127.0.0.2") // the third lookup: the other two were acted on
	var warnings []string
	for _, e := range drainEvents(s) {
		if strings.Contains(e.Message, "cannot resolve") {
			warnings = append(warnings, e.Message)
		}
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "keeping its nodes") {
		t.Errorf("warnings %q, want one saying the nodes are kept", warnings)
	}
	if info := nodeInfo(t, s, nameA); !info.Connected {
		t.Errorf("node dropped for a lookup that timed out: %+v", info)
	}

	res.answer(t, &net.DNSError{Err: "no such host", Name: "pods.test", IsNotFound: true})
	waitEvent(t, s, "cannot resolve pods.test", "dropping its nodes")
	waitEvent(t, s, "lost ppserver "+nameA, "no longer resolves to 127.0.0.2")
	res.answer(t, nil, "127.0.0.2")
	waitNode(t, s, nameA, "back", connected(2))
	s.Register(1, []byte("src"))
	if rep := remoteReply(t, s, submit(t, s, 1, "back", "", false)); rep.Args != "back" {
		t.Errorf("worker saw %+v", rep)
	}
	if st := a.srv.Stats(); st.Jobs != 1 {
		t.Errorf("A ran %d jobs, want 1", st.Jobs)
	}
}

// An entry that is an IP address is one node named as written, never
// looked up; each name is looked up once however often it is named.
func TestOnlyNamesAreResolved(t *testing.T) {
	t.Parallel()
	a, _, port := twoNodes(t)
	res := newScriptedResolver()
	s := nameClient(t, res, a.addr, "pods.test:"+port, "pods.test:"+port)
	res.answer(t, nil, "127.0.0.3")
	waitNode(t, s, a.addr, "connected", connected(2))
	waitNode(t, s, "pods.test:"+port+" (127.0.0.3)", "connected", connected(2))
	if len(s.Nodes()) != 3 {
		t.Errorf("Nodes = %+v, want local, the IP entry and the name's one address", s.Nodes())
	}
	res.answer(t, nil, "127.0.0.3")
	for range len(res.asked) {
		if host := <-res.asked; host != "pods.test" {
			t.Errorf("looked up %q", host)
		}
	}
}

func TestOneFamily(t *testing.T) {
	for _, tc := range []struct {
		in, want []string
	}{
		{nil, nil},
		{[]string{"10.0.0.2", "fd00::2", "10.0.0.1"}, []string{"10.0.0.1", "10.0.0.2"}},
		{[]string{"fd00::2", "fd00::1", "fd00::2"}, []string{"fd00::1", "fd00::2"}},
		{[]string{"::ffff:10.0.0.1", "10.0.0.1"}, []string{"10.0.0.1"}},
	} {
		var in []netip.Addr
		for _, a := range tc.in {
			in = append(in, netip.MustParseAddr(a))
		}
		var got []string
		for _, a := range oneFamily(in) {
			got = append(got, a.String())
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("oneFamily(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestIsName(t *testing.T) {
	for addr, want := range map[string]bool{
		"node01:60000":                   true,
		"svc.ns.svc.cluster.local:60000": true,
		"127.0.0.1:60000":                false,
		"[::1]:60000":                    false,
		"[fe80::1%eth0]:60000":           false,
	} {
		if got := isName(addr); got != want {
			t.Errorf("isName(%q) = %v, want %v", addr, got, want)
		}
	}
}

// A name may bring MaxNameAddresses nodes and no more; the rest are
// ignored with one warning, and the nodes it has are unaffected.
func TestNameAddressesCapped(t *testing.T) {
	t.Parallel()
	_, port, _ := net.SplitHostPort(closedPort(t)) // every dial fails at once
	res := newScriptedResolver()
	s := nameClient(t, res, "many.test:"+port)
	var addrs []string
	for i := range MaxNameAddresses + 2 {
		addrs = append(addrs, fmt.Sprintf("127.1.%d.%d", i/250, 1+i%250))
	}
	// Read events as they come: thousands of nodes failing to connect
	// would push the warning out of the bounded queue before a late drain.
	var (
		mu       sync.Mutex
		warnings []string
	)
	go func() {
		for {
			e, got, ok := s.NextEvent(10 * time.Millisecond)
			if !ok {
				return
			}
			if got && strings.Contains(e.Message, "the most one name brings") {
				mu.Lock()
				warnings = append(warnings, e.Message)
				mu.Unlock()
			}
		}
	}()
	res.answer(t, nil, addrs...)
	res.answer(t, nil, addrs...) // the first answer has been acted on
	fakeworker.Eventually(t, deadline, "the cap's warning read", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(warnings) > 0
	})
	mu.Lock()
	defer mu.Unlock()
	if len(warnings) != 1 || !strings.Contains(warnings[0], fmt.Sprint(MaxNameAddresses)) {
		t.Errorf("cap warnings %q, want one naming the cap", warnings)
	}
	if got := len(s.Nodes()); got != 1+MaxNameAddresses {
		t.Errorf("%d nodes, want the local pool and %d", got, MaxNameAddresses)
	}
}
