package remote

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ppgo/ppgo/core/auth"
	"github.com/ppgo/ppgo/core/internal/fakeworker"
	"github.com/ppgo/ppgo/core/sched"
	"github.com/ppgo/ppgo/core/serve"
	"github.com/ppgo/ppgo/core/wire"
)

var offer = auth.Offer{Workers: 3, Credits: 6}

// connect starts a node against a fresh fake server and waits until it is
// connected: the node announces the server's credits.
func connect(t *testing.T, tweak func(*Config)) (*Node, *fakeReporter, events, *fakeServer, *peer) {
	t.Helper()
	srv := newFakeServer(t, secret, offer)
	r, rep, evs := newNode(t, srv.addr, tweak)
	p := srv.accept(t)
	rep.capacity(t, offer.Credits)
	if ev := evs.next(t, Connected); ev.Workers != offer.Workers || ev.Addr != srv.addr {
		t.Fatalf("Connected event %+v", ev)
	}
	if st := r.State(); !st.Connected || st.Workers != offer.Workers {
		t.Fatalf("State = %+v", st)
	}
	return r, rep, evs, srv, p
}

// Jobs reach the node with their function's source only the first time
// the connection sees its key, results come back in any order, and after
// a reconnect the new connection gets the source again.
func TestJobsAndSourceCaching(t *testing.T) {
	r, rep, evs, srv, p := connect(t, nil)
	jobs := []*sched.Job{newJob(1, 7, "a"), newJob(2, 7, "b"), newJob(3, 8, "c")}
	for _, j := range jobs {
		r.Dispatch(j)
	}
	wantSource := []string{"src7", "", "src8"}
	for i, j := range jobs {
		m := p.job()
		if m.ID != j.ID || m.Key != j.Func.Key || string(m.Args) != string(j.Args) || string(m.Source) != wantSource[i] {
			t.Fatalf("job %d reached the node as %+v, want source %q", j.ID, m, wantSource[i])
		}
	}
	p.send(
		&wire.Result{ID: 3, Data: []byte("r3"), ElapsedNS: 30},
		&wire.Result{ID: 1, Data: []byte("r1"), ElapsedNS: 10},
		&wire.Result{ID: 2, Status: wire.StatusLost, Reason: "worker process 42 killed"},
	)
	for _, want := range []struct {
		id   uint64
		data string
		lost string
	}{{3, "r3", ""}, {1, "r1", ""}, {2, "", "worker process 42 killed"}} {
		c := rep.finish(t)
		if c.job.ID != want.id || string(c.out.Data) != want.data || c.out.Unsent {
			t.Fatalf("got %v, want job %d with %q", c, want.id, want.data)
		}
		if want.lost == "" && (c.out.Lost != nil || c.out.Elapsed != time.Duration(want.id*10)) {
			t.Errorf("job %d: %v, elapsed %v", want.id, c.out.Lost, c.out.Elapsed)
		}
		if want.lost != "" && (c.out.Lost == nil || !strings.Contains(c.out.Lost.Error(), want.lost) ||
			!strings.Contains(c.out.Lost.Error(), srv.addr)) {
			t.Errorf("job %d: lost %v, want the node's reason and address", want.id, c.out.Lost)
		}
	}

	// The node goes away; the client redials by itself.
	p.conn.Close()
	rep.capacity(t, 0)
	if ev := evs.next(t, Disconnected); ev.Requeued != 0 {
		t.Errorf("Disconnected event %+v, want nothing re-queued", ev)
	}
	p = srv.accept(t)
	rep.capacity(t, offer.Credits)
	evs.next(t, Connected)
	r.Dispatch(newJob(4, 7, "d"))
	r.Dispatch(newJob(5, 7, "e"))
	if m := p.job(); m.ID != 4 || string(m.Source) != "src7" {
		t.Errorf("first job of a key after a reconnect: %+v, want its source", m)
	}
	if m := p.job(); m.ID != 5 || len(m.Source) != 0 {
		t.Errorf("second job of a key after a reconnect: %+v, want no source", m)
	}
	rep.none(t)
}

// A node that breaks the protocol loses the connection, and every job in
// flight on it goes back to the scheduler as lost (it may have started).
func TestProtocolViolationClosesConnection(t *testing.T) {
	tests := []struct {
		name string
		msg  wire.Message
		err  string
	}{
		{"result for an unknown job", &wire.Result{ID: 999, Data: []byte("?")}, "job 999, which this connection does not carry"},
		{"negative credits", &wire.Credits{Credits: -1}, "negative credits"},
		{"a client's message", &wire.Job{ID: 1}, "unexpected Job from a node"},
		{"an unknown status", &wire.Result{ID: 1, Status: 9}, "job 1 has status 9"},
		{"a job cancelled that the client did not cancel", &wire.Result{ID: 1, Status: wire.StatusCancelled},
			"job 1 reported cancelled, which this client did not cancel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, rep, evs, _, p := connect(t, func(c *Config) { c.Redial = false })
			r.Dispatch(newJob(1, 1, "a"))
			r.Dispatch(newJob(2, 1, "b"))
			p.job()
			p.job()
			p.send(tt.msg)
			p.closed()
			rep.capacity(t, 0)
			lost := map[uint64]bool{}
			for range 2 {
				c := rep.finish(t)
				if c.out.Lost == nil || c.out.Unsent || !strings.Contains(c.out.Lost.Error(), tt.err) {
					t.Errorf("got %v, want lost (sent) because of %q", c, tt.err)
				}
				lost[c.job.ID] = true
			}
			if !lost[1] || !lost[2] {
				t.Errorf("lost jobs %v, want 1 and 2", lost)
			}
			ev := evs.next(t, Disconnected)
			if ev.Requeued != 2 || !errors.Is(ev.Err, wire.ErrMalformed) {
				t.Errorf("Disconnected event %+v", ev)
			}
			if st := r.State(); st.Connected {
				t.Errorf("State = %+v after a protocol violation", st)
			}
			rep.none(t)
		})
	}
}

// A result the node reports twice is a protocol violation too: the job
// was reported once and the second must not reach the scheduler.
func TestDuplicateResultClosesConnection(t *testing.T) {
	r, rep, evs, _, p := connect(t, func(c *Config) { c.Redial = false })
	r.Dispatch(newJob(1, 1, "a"))
	p.job()
	p.send(&wire.Result{ID: 1, Data: []byte("once")}, &wire.Result{ID: 1, Data: []byte("twice")})
	if c := rep.finish(t); c.job.ID != 1 || string(c.out.Data) != "once" {
		t.Fatalf("got %v", c)
	}
	p.closed()
	rep.capacity(t, 0)
	evs.next(t, Disconnected)
	rep.none(t)
}

// Goodbye stops new work at once; jobs already sent still report.
func TestGoodbyeAndCredits(t *testing.T) {
	r, rep, evs, _, p := connect(t, func(c *Config) { c.Redial = false })
	p.send(&wire.Credits{Credits: 2})
	rep.capacity(t, 2)
	p.send(&wire.Credits{Credits: 9})
	rep.capacity(t, 9)
	r.Dispatch(newJob(1, 1, "a"))
	p.job()
	p.send(&wire.Goodbye{Reason: "draining"})
	rep.capacity(t, 0)
	if st := r.State(); !st.Connected {
		t.Fatalf("State = %+v right after Goodbye, want still connected", st)
	}
	p.send(&wire.Result{ID: 1, Data: []byte("done")})
	if c := rep.finish(t); c.job.ID != 1 || c.out.Lost != nil || string(c.out.Data) != "done" {
		t.Fatalf("result after Goodbye: %v", c)
	}
	p.conn.Close()
	rep.capacity(t, 0)
	evs.next(t, Disconnected)
	rep.none(t)
}

// A job handed to a node that is not connected comes straight back,
// marked unsent so it costs no attempt.
func TestDispatchWhileDisconnected(t *testing.T) {
	check := func(t *testing.T, rep *fakeReporter, j *sched.Job) {
		t.Helper()
		c := rep.finish(t)
		if c.job != j || !c.out.Unsent || c.out.Lost == nil || !strings.Contains(c.out.Lost.Error(), "not connected") {
			t.Errorf("got %v, want job %d back unsent, not connected", c, j.ID)
		}
	}
	t.Run("never started", func(t *testing.T) {
		rep := newReporter()
		r := New(Config{Addr: "127.0.0.1:1", Secret: secret}, rep)
		j := newJob(1, 1, "a")
		r.Dispatch(j)
		check(t, rep, j)
		r.Close()
		r.Close()
	})
	t.Run("unreachable", func(t *testing.T) {
		ln := newFakeServer(t, secret, offer)
		ln.ln.Close() // nothing listens there any more
		r, rep, evs := newNode(t, ln.addr, nil)
		ev := evs.next(t, Unreachable)
		if ev.Err == nil || ev.Addr != ln.addr {
			t.Errorf("Unreachable event %+v", ev)
		}
		j := newJob(2, 1, "b")
		r.Dispatch(j)
		check(t, rep, j)
		if st := r.State(); st.Connected || st.LastErr == nil {
			t.Errorf("State = %+v", st)
		}
	})
	t.Run("after the connection broke", func(t *testing.T) {
		r, rep, evs, _, p := connect(t, func(c *Config) { c.Redial = false })
		p.conn.Close()
		rep.capacity(t, 0)
		evs.next(t, Disconnected)
		j := newJob(3, 1, "c")
		r.Dispatch(j)
		check(t, rep, j)
	})
}

// A job too large for the connection's frame limit comes back lost (it
// may fit another node), and the connection goes on.
func TestJobTooLargeForFrame(t *testing.T) {
	r, rep, _, _, p := connect(t, func(c *Config) { c.MaxFrame = 1 << 10 })
	big := newJob(1, 1, strings.Repeat("x", 2<<10))
	r.Dispatch(big)
	c := rep.finish(t)
	if c.job != big || !errors.Is(c.out.Lost, wire.ErrFrameTooLarge) || c.out.Unsent {
		t.Fatalf("got %v, want job 1 lost as too large", c)
	}
	r.Dispatch(newJob(2, 1, "small"))
	if m := p.job(); m.ID != 2 || string(m.Source) != "src1" {
		t.Errorf("next job %+v, want job 2 with its source (the big one never went)", m)
	}
	if st := r.State(); !st.Connected {
		t.Errorf("State = %+v", st)
	}
}

// Heartbeats keep a connection with nothing to do alive well past
// Silence, while a node that goes quiet is given up after Silence.
func TestSilence(t *testing.T) {
	const silence = 200 * time.Millisecond
	quiet := func(c *Config) { c.Silence = silence; c.Redial = false }

	t.Run("heartbeats keep an idle connection", func(t *testing.T) {
		t.Parallel()
		r, rep, evs, _, p := connect(t, quiet)
		// Answer each of the client's heartbeats; they come every
		// Silence/4, so a dozen span three times Silence.
		start := time.Now()
		for beats := 0; beats < 12; {
			p.conn.SetDeadline(time.Now().Add(deadline))
			m, err := p.conn.Read()
			if err != nil {
				t.Fatalf("connection ended after %v, %d heartbeats: %v", time.Since(start), beats, err)
			}
			if _, ok := m.(*wire.Heartbeat); !ok {
				t.Fatalf("idle client sent %v", m.MessageType())
			}
			beats++
			p.send(&wire.Heartbeat{})
		}
		if el := time.Since(start); el < 2*silence {
			t.Errorf("12 heartbeats in %v: more than one every Silence/4", el)
		}
		rep.none(t)
		evs.none(t)
		r.Dispatch(newJob(1, 1, "a"))
		p.job()
		p.send(&wire.Result{ID: 1, Data: []byte("ok")})
		if c := rep.finish(t); c.out.Lost != nil {
			t.Errorf("got %v", c)
		}
	})

	t.Run("a silent node is given up", func(t *testing.T) {
		t.Parallel()
		start := time.Now() // before the client's clock for the node starts
		r, rep, evs, _, p := connect(t, quiet)
		r.Dispatch(newJob(1, 1, "a"))
		p.job() // and never a word back
		go func() {
			for {
				if _, err := p.conn.Read(); err != nil {
					return
				}
			}
		}()
		ev := evs.next(t, Disconnected)
		if el := time.Since(start); el < silence {
			t.Errorf("given up after %v, Silence is %v", el, silence)
		}
		if ev.Requeued != 1 || ev.Err == nil || !strings.Contains(ev.Err.Error(), "silent") {
			t.Errorf("Disconnected event %+v", ev)
		}
		rep.capacity(t, 0)
		if c := rep.finish(t); c.job.ID != 1 || c.out.Lost == nil || c.out.Unsent {
			t.Errorf("got %v, want job 1 lost", c)
		}
	})

	t.Run("against a real node", func(t *testing.T) {
		t.Parallel()
		srv, addr := startServe(t, 1, func(c *serve.Config) { c.Silence = silence })
		r, rep, evs := newNode(t, addr, quiet)
		rep.capacity(t, 2)
		evs.next(t, Connected)
		// Nothing may happen for three times Silence: no disconnection.
		select {
		case ev := <-evs:
			t.Fatalf("event %q on an idle connection", ev)
		case c := <-rep.calls:
			t.Fatalf("unexpected %v on an idle connection", c)
		case <-time.After(3 * silence):
		}
		j := newJob(1, 1, "still here")
		r.Dispatch(j)
		c := rep.finishWithCredits(t)
		var reply fakeworker.Reply
		if c.out.Lost != nil || json.Unmarshal(c.out.Data, &reply) != nil || reply.Args != "still here" {
			t.Fatalf("got %v", c)
		}
		if st := srv.Stats(); st.Clients != 1 || st.Jobs != 1 {
			t.Errorf("node stats %+v", st)
		}
	})
}

// A node that does not know the secret is reported once, however often
// it is redialled.
func TestWrongSecretReportedOnce(t *testing.T) {
	t.Parallel()
	srv := newFakeServer(t, "another secret", offer)
	r, rep, evs := newNode(t, srv.addr, nil)
	for i := range 3 {
		select {
		case err := <-srv.tries:
			if !errors.Is(err, auth.ErrWrongSecret) {
				t.Fatalf("handshake %d: %v", i, err)
			}
		case <-time.After(deadline):
			t.Fatalf("only %d handshakes within %v", i, deadline)
		}
	}
	// The third attempt started after the second was reported.
	ev := evs.next(t, Refused)
	if !errors.Is(ev.Err, auth.ErrWrongSecret) || !strings.Contains(ev.String(), "wrong secret") {
		t.Errorf("Refused event %q", ev)
	}
	evs.none(t)
	rep.none(t)
	if st := r.State(); st.Connected || !errors.Is(st.LastErr, auth.ErrWrongSecret) {
		t.Errorf("State = %+v", st)
	}
}

// Close ends the connection at once, hands back the jobs in flight and
// stops redialling, without a Disconnected event for the user.
func TestClose(t *testing.T) {
	r, rep, evs, _, p := connect(t, nil)
	r.Dispatch(newJob(1, 1, "a"))
	p.job()
	done := make(chan struct{})
	go func() { r.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(deadline):
		t.Fatal("Close did not return")
	}
	p.closed()
	rep.capacity(t, 0)
	if c := rep.finish(t); c.job.ID != 1 || c.out.Lost == nil {
		t.Errorf("got %v, want job 1 lost", c)
	}
	evs.none(t)
	j := newJob(2, 1, "b")
	r.Dispatch(j)
	if c := rep.finish(t); c.job != j || !c.out.Unsent {
		t.Errorf("Dispatch after Close: %v", c)
	}
}
