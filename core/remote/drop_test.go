package remote

import (
	"net"
	"strings"
	"testing"
	"time"
)

// hangUp listens on loopback and closes every connection at once, a node
// that cannot be authenticated; it sends the time of each accept.
func hangUp(t *testing.T) (addr string, dials <-chan time.Time) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan time.Time, 1024)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ch <- time.Now()
			c.Close()
		}
	}()
	return ln.Addr().String(), ch
}

// refuser is a node with another secret; it sends the time of each
// handshake it refused.
func refuser(t *testing.T) (addr string, dials <-chan time.Time) {
	t.Helper()
	srv := newFakeServer(t, "another secret", offer)
	ch := make(chan time.Time, 1024)
	go func() {
		for range srv.tries {
			ch <- time.Now()
		}
	}()
	return srv.addr, ch
}

// A discovered node that fails is dropped: however often it is heard
// again (kicked), it is not dialled again until its backoff has passed,
// and the backoff doubles with each failure. Without the drop every kick
// was a dial.
func TestDiscoveredNodeDroppedAfterFailure(t *testing.T) {
	t.Parallel()
	const dropMin = 150 * time.Millisecond
	for _, tc := range []struct {
		name  string
		node  func(*testing.T) (string, <-chan time.Time)
		kind  EventKind
		cause string
	}{
		{"wrong secret", refuser, Refused, "wrong secret"},
		{"hangs up", hangUp, Unreachable, "EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr, dials := tc.node(t)
			r, _, evs := newNode(t, addr, func(c *Config) {
				c.Redial, c.DropMin, c.DropMax = false, dropMin, 4*dropMin
			})
			ev := evs.next(t, tc.kind)
			if !strings.Contains(ev.String(), tc.cause) || !strings.Contains(ev.String(), "dropped") || ev.Dropped != dropMin {
				t.Errorf("event %q (dropped %v), want it to say %q and that the node is dropped for %v",
					ev, ev.Dropped, tc.cause, dropMin)
			}
			// Heard again and again, as a flood of announcements would
			// have it: dialled once per backoff, each twice the last.
			var at []time.Time
			stop := time.After(deadline)
			for len(at) < 4 {
				r.Kick()
				select {
				case d := <-dials:
					at = append(at, d)
				case <-time.After(time.Millisecond):
				case <-stop:
					t.Fatalf("%d dials within %v, want 4", len(at), deadline)
				}
			}
			for i, want := range []time.Duration{dropMin, 2 * dropMin, 4 * dropMin} {
				// The gap also holds a dial and a handshake; half a
				// millisecond of slack covers clocks read on two
				// goroutines.
				if gap := at[i+1].Sub(at[i]); gap < want-time.Millisecond/2 {
					t.Errorf("dial %d came %v after the one before, want at least %v", i+2, gap, want)
				}
			}
			evs.none(t) // the failure was reported once
		})
	}
}

// A node that connected once and went away is not dropped: it is dialled
// at once when heard again, as before.
func TestDiscoveredNodeLostIsDialledWhenHeard(t *testing.T) {
	t.Parallel()
	srv := newFakeServer(t, secret, offer)
	r, rep, evs := newNode(t, srv.addr, func(c *Config) { c.Redial, c.DropMin = false, time.Hour })
	p := srv.accept(t)
	rep.capacity(t, offer.Credits)
	evs.next(t, Connected)
	p.conn.Close()
	rep.capacity(t, 0)
	evs.next(t, Disconnected)
	r.Kick()
	srv.accept(t)
	evs.next(t, Connected)
}
