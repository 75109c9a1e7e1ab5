package jobserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/ppgo/ppgo/core/auth"
	"github.com/ppgo/ppgo/core/discovery"
	"github.com/ppgo/ppgo/core/pool"
	"github.com/ppgo/ppgo/core/remote"
	"github.com/ppgo/ppgo/core/wire"
)

// NodeInfo describes one node for get_active_nodes and get_stats.
type NodeInfo struct {
	Name      string
	Workers   int  // worker processes (remote: as the node announced)
	Connected bool // always true for the local pool
	Capacity  int  // jobs the scheduler may hand it at once
	Running   int
	Jobs      int
	Busy      time.Duration
}

// Connect adds the ppserver at addr ("host:port", "[::1]:port"): it is
// dialled in the background, joins the scheduler once authenticated, and
// is redialled with backoff whenever it goes away. Adding a known node
// does nothing. An address no dial could use is an error at once.
//
// When host is a name rather than an IP address, every address it
// resolves to is a node of its own, named "host:port (address)", and the
// name is looked up again every Config.ResolveEvery: a new address joins,
// one no longer listed leaves, its jobs re-queued as a lost node's, and
// comes back as the same node if listed again. Only IPv4 addresses are
// taken when there are any, else only IPv6 ones (oneFamily says why).
func (s *Server) Connect(addr string) error {
	if err := checkAddr(addr); err != nil {
		return fmt.Errorf("jobserver: connect %q: %w", addr, err)
	}
	if isName(addr) {
		return s.watchName(addr)
	}
	return s.addRemote(addr, true)
}

// checkAddr rejects what would otherwise fail every redial, forever and
// only in the log: above all an IPv6 host without brackets ("::1:35000"
// cannot say where the port starts; net.JoinHostPort writes "[::1]:35000").
func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "" {
		return errors.New("no host")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 1 to 65535", port)
	}
	return nil
}

// addRemote adds a node, or kicks a known one that is disconnected.
func (s *Server) addRemote(addr string, redial bool) error {
	s.remotesMu.Lock()
	defer s.remotesMu.Unlock()
	if s.closed {
		return fmt.Errorf("jobserver: connect %s: server closed", addr)
	}
	if r := s.remotes[addr]; r != nil {
		if !r.State().Connected {
			r.Kick()
		}
		return nil
	}
	s.addRemoteLocked(addr, redial)
	return nil
}

// discovered adds a node autodiscovery heard, or kicks it if known (a
// dropped one ignores that until its backoff has passed), up to
// MaxDiscoveredNodes. A dropped node keeps its place, and stays in the
// scheduler at capacity 0, as sched cannot remove a node; so it counts
// towards the cap, and comes back as the same node.
func (s *Server) discovered(addr string) {
	s.remotesMu.Lock()
	defer s.remotesMu.Unlock()
	if s.closed {
		return
	}
	if r := s.remotes[addr]; r != nil {
		if !r.State().Connected {
			r.Kick()
		}
		return
	}
	if s.discoveredNodes >= MaxDiscoveredNodes {
		if !s.capWarned {
			s.capWarned = true
			s.events.push(Event{Level: LevelWarning, Message: fmt.Sprintf(
				"autodiscovery found more than %d ppservers, the most one client takes: ignoring %s "+
					"and any other new one; name further nodes in ppservers", MaxDiscoveredNodes, addr)})
		}
		return
	}
	s.discoveredNodes++
	s.addRemoteLocked(addr, false)
}

func (s *Server) addRemoteLocked(addr string, redial bool) {
	s.expectRemotes()
	s.startRemoteLocked(addr, addr, redial)
}

// startRemoteLocked makes and starts the node that dials addr, known to
// the user as name (in remotes, stats and events). Called with remotesMu
// held.
func (s *Server) startRemoteLocked(addr, name string, redial bool) *remote.Node {
	r := remote.New(remote.Config{
		Addr:   addr,
		Name:   name,
		Secret: s.cfg.Secret,
		Redial: redial,
		Limits: wire.Limits{Silence: s.cfg.Silence},
		Events: s.nodeEvent,
	}, s.sched)
	s.remotes[name] = r
	s.sched.AddNode(r, 0) // capacity arrives with the node's credits
	r.Start()
	return r
}

// nodeEvent turns a node's connection change into a user-facing event.
func (s *Server) nodeEvent(e remote.Event) {
	level := LevelWarning
	if e.Kind == remote.Connected {
		level = LevelInfo
	}
	s.events.push(Event{Level: level, Message: e.String()})
}

// NextEvent returns the next node event, waiting up to timeout (<0: no
// limit). ok is false once the server is closed and no event is left.
func (s *Server) NextEvent(timeout time.Duration) (e Event, got, ok bool) {
	return s.events.next(timeout)
}

// Nodes describes the local pool and every remote node, in the order added.
func (s *Server) Nodes() []NodeInfo {
	stats := s.sched.Stats()
	s.remotesMu.Lock()
	defer s.remotesMu.Unlock()
	out := make([]NodeInfo, 0, len(stats))
	for _, st := range stats {
		info := NodeInfo{Name: st.Name, Capacity: st.Capacity, Running: st.Running, Jobs: st.Jobs, Busy: st.Busy}
		if r := s.remotes[st.Name]; r != nil {
			state := r.State()
			info.Workers, info.Connected = state.Workers, state.Connected
		} else {
			info.Workers, info.Connected = s.local.Workers(), true
		}
		out = append(out, info)
	}
	return out
}

// Limits on a job's arguments plus source: what a local worker's pipe frame
// carries, and what a network frame does (less room for the Job's other
// fields).
const (
	localJobLimit  = pool.MaxFrameBody - 4
	remoteJobLimit = wire.DefaultMaxFrame - 64
)

// expectRemotes lowers the job limit to what every node can take, once
// the server may have remote nodes; Submit reads it without a lock. The
// first time, it warns about a weak secret: only now can it matter.
// Called with remotesMu held.
func (s *Server) expectRemotes() {
	s.jobLimit.Store(remoteJobLimit)
	if !s.warned {
		s.warned = true
		if weak := auth.WeakSecret(s.cfg.Secret); weak != "" {
			s.events.push(Event{Level: LevelWarning, Message: "ppservers: " + weak})
		}
	}
}

// MaxDiscoveredNodes caps the nodes one client takes from autodiscovery.
// Each is a connection, goroutines and an entry the scheduler looks at on
// every dispatch; broadcast discovery is for a LAN's worth of ppservers,
// and more than this is likelier a misconfiguration, or a holder of the
// secret flooding announcements, than a cluster. Named nodes do not
// count and are not capped: a user who wants more names them.
const MaxDiscoveredNodes = 256

// Discover looks for ppservers matching entry ("*", "*:port", "10.0.*.*")
// by UDP broadcast, to broadcast when it is not empty, and connects to
// every node it hears announce itself under the client's secret, while
// jobs run, until Close, up to MaxDiscoveredNodes. A node that goes away
// is dialled again when it is heard again; one that cannot be connected
// to or refuses the client is dropped, and dialled again only if heard
// after a backoff (remote.DefaultDropMin doubling to DefaultDropMax).
// Discovery's warnings (announcements that fail authentication, of
// another version, from clocks too far apart) become node events.
func (s *Server) Discover(entry, broadcast string) error {
	pattern, err := discovery.ParsePattern(entry)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.remotesMu.Lock()
	if s.closed {
		s.remotesMu.Unlock()
		cancel()
		return fmt.Errorf("jobserver: discover %s: server closed", entry)
	}
	s.probes = append(s.probes, cancel)
	s.expectRemotes()
	s.remotesMu.Unlock()

	cfg := discovery.ProbeConfig{
		Pattern:   pattern,
		Broadcast: broadcast,
		Secret:    s.cfg.Secret,
		Logger:    slog.New(eventLog{s.events}),
	}
	go func() {
		err := discovery.Probe(ctx, cfg, func(addr netip.AddrPort) {
			s.discovered(addr.String())
		})
		if err != nil && ctx.Err() == nil {
			s.events.push(Event{Level: LevelWarning,
				Message: fmt.Sprintf("autodiscovery of %q stopped: %v", entry, err)})
		}
	}()
	return nil
}

// eventLog is a slog.Handler that turns warnings into node events, which
// the Python side logs on the pp logger; it drops the rest.
type eventLog struct{ q *eventQueue }

func (h eventLog) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h eventLog) Handle(_ context.Context, r slog.Record) error {
	msg := r.Message
	r.Attrs(func(a slog.Attr) bool {
		msg += " " + a.String()
		return true
	})
	h.q.push(Event{Level: LevelWarning, Message: msg})
	return nil
}

// WithAttrs and WithGroup drop what they are given: discovery's logger
// uses neither, and a record's own attributes are kept.
func (h eventLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h eventLog) WithGroup(string) slog.Handler      { return h }
