package jobserver

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ppgo/ppgo/core/remote"
)

// Resolver looks up a host name's addresses; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

const (
	// DefaultResolveEvery is how often, on average, a named node's host
	// name is looked up again: the TTL Kubernetes' DNS gives a Service's
	// records, and how long Go keeps /etc/hosts, so a changed address is
	// seen within the record's age plus one and a half periods (about
	// 5-13 s); one query per name per period costs the DNS nothing.
	DefaultResolveEvery = 5 * time.Second
	// lookupTimeout bounds one lookup: a DNS server that does not answer
	// must not hold up the next try for long.
	lookupTimeout = 5 * time.Second
	// MaxNameAddresses caps the nodes one host name may bring. Every
	// address ever seen keeps its node (paused while it is not listed), as
	// the scheduler cannot forget a node, so a name whose addresses churn
	// (pods restarting for days) would grow without bound; a DNS answer
	// holds a few thousand addresses at most.
	MaxNameAddresses = 4096
)

// nameNodes is one "host:port" entry whose host is a name: a node per
// address it resolves to, re-resolved every cfg.ResolveEvery. Guarded by
// Server.remotesMu.
type nameNodes struct {
	entry string // "host:port", as the user wrote it
	host  string
	port  uint16
	// nodes holds a node for every address the name has had; those not
	// among its addresses now are paused.
	nodes     map[netip.Addr]*remote.Node
	listed    []netip.Addr // the addresses of the last successful lookup, sorted
	failing   bool         // the last lookup failed: said once, not at every try
	capWarned bool
}

// isName reports whether addr's host is a name to resolve, not an IP.
func isName(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	_, err = netip.ParseAddr(host)
	return err != nil
}

// watchName adds a named node whose host is a name: one node per address,
// kept up to date by a goroutine until Close. A known entry does nothing.
func (s *Server) watchName(addr string) error {
	host, portText, _ := net.SplitHostPort(addr) // checkAddr passed
	port, _ := strconv.ParseUint(portText, 10, 16)
	s.remotesMu.Lock()
	defer s.remotesMu.Unlock()
	if s.closed {
		return fmt.Errorf("jobserver: connect %s: server closed", addr)
	}
	if s.names[addr] != nil {
		return nil
	}
	w := &nameNodes{entry: addr, host: host, port: uint16(port), nodes: make(map[netip.Addr]*remote.Node)}
	s.names[addr] = w
	s.expectRemotes()
	ctx, cancel := context.WithCancel(context.Background())
	s.probes = append(s.probes, cancel)
	go s.resolveLoop(ctx, w)
	return nil
}

// resolveLoop looks w's name up now and about every cfg.ResolveEvery
// after: each wait is drawn from half to one and a half periods, so that
// the names of a big allocation, all named at once, do not query the DNS
// in bursts.
func (s *Server) resolveLoop(ctx context.Context, w *nameNodes) {
	every := s.cfg.ResolveEvery
	t := time.NewTimer(every) // Reset after each lookup; no stale tick survives a Reset
	defer t.Stop()
	for {
		lookup, cancel := context.WithTimeout(ctx, lookupTimeout)
		addrs, err := s.cfg.Resolver.LookupNetIP(lookup, "ip", w.host)
		cancel()
		if ctx.Err() != nil {
			return
		}
		s.resolved(w, addrs, err)
		t.Reset(every/2 + rand.N(every))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// resolved brings w's nodes in line with a lookup: an address new to the
// name gets a node, one that came back resumes its node, one that went
// away pauses its node, which hands back its jobs. A lookup that failed
// leaves the nodes as they are, unless the name is gone (not found): then
// none is listed. Either way the user hears of it once.
func (s *Server) resolved(w *nameNodes, addrs []netip.Addr, err error) {
	var dnsErr *net.DNSError
	gone := errors.As(err, &dnsErr) && dnsErr.IsNotFound
	s.remotesMu.Lock()
	defer s.remotesMu.Unlock()
	if s.closed {
		return
	}
	if err != nil {
		if !w.failing {
			w.failing = true
			what := "keeping its nodes"
			if gone {
				what = "dropping its nodes"
			}
			s.events.push(Event{Level: LevelWarning, Message: fmt.Sprintf(
				"ppservers entry %s: cannot resolve %s: %v; %s, trying again every %v",
				w.entry, w.host, err, what, s.cfg.ResolveEvery)})
		}
		if !gone {
			return
		}
		addrs = nil
	} else {
		w.failing = false
	}
	listed := oneFamily(addrs)
	if slices.Equal(listed, w.listed) {
		return
	}
	var joined, left []string
	for _, a := range listed {
		if listedIn(w.listed, a) {
			continue
		}
		if s.nameNodeLocked(w, a) {
			joined = append(joined, a.String())
		}
	}
	for _, a := range w.listed {
		if r := w.nodes[a]; r != nil && !listedIn(listed, a) {
			r.Pause(fmt.Errorf("%s no longer resolves to %s", w.host, a))
			left = append(left, a.String())
		}
	}
	w.listed = listed
	s.events.push(Event{Level: LevelInfo, Message: fmt.Sprintf(
		"ppservers entry %s: %s resolves to %s (%s)", w.entry, w.host, addrList(listed), changes(joined, left))})
}

// nameNodeLocked starts (or resumes) the node for address a of w, up to
// MaxNameAddresses nodes per name; false if a has none.
func (s *Server) nameNodeLocked(w *nameNodes, a netip.Addr) bool {
	if r := w.nodes[a]; r != nil {
		r.Resume()
		return true
	}
	if len(w.nodes) >= MaxNameAddresses {
		if !w.capWarned {
			w.capWarned = true
			s.events.push(Event{Level: LevelWarning, Message: fmt.Sprintf(
				"ppservers entry %s: %s has had more than %d addresses, the most one name brings: "+
					"ignoring %s and any other new one", w.entry, w.host, MaxNameAddresses, a)})
		}
		return false
	}
	name := fmt.Sprintf("%s (%s)", w.entry, a)
	w.nodes[a] = s.startRemoteLocked(netip.AddrPortFrom(a, w.port).String(), name, true)
	return true
}

// oneFamily returns the IPv4 addresses among addrs, or the IPv6 ones if
// there are none, sorted and without duplicates. A dual-stack host has
// one of each; taking both would make it two nodes, each granted its full
// credits.
func oneFamily(addrs []netip.Addr) []netip.Addr {
	var v4, v6 []netip.Addr
	for _, a := range addrs {
		a = a.Unmap()
		if a.Is4() {
			v4 = append(v4, a)
		} else {
			v6 = append(v6, a)
		}
	}
	out := v4
	if len(out) == 0 {
		out = v6
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

func addrList(addrs []netip.Addr) string {
	if len(addrs) == 0 {
		return "no address"
	}
	texts := make([]string, len(addrs))
	for i, a := range addrs {
		texts[i] = a.String()
	}
	return strings.Join(texts, ", ")
}

func changes(joined, left []string) string {
	var parts []string
	if len(joined) > 0 {
		parts = append(parts, "new: "+strings.Join(joined, ", "))
	}
	if len(left) > 0 {
		parts = append(parts, "gone: "+strings.Join(left, ", "))
	}
	if len(parts) == 0 {
		return "no change in nodes"
	}
	return strings.Join(parts, "; ")
}

// listedIn reports whether a is in list, sorted as oneFamily sorts it: a
// name may bring thousands of addresses.
func listedIn(list []netip.Addr, a netip.Addr) bool {
	_, found := slices.BinarySearchFunc(list, a, netip.Addr.Compare)
	return found
}
