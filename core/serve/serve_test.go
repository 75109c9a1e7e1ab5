package serve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ppgo/ppgo/core/auth"
	"github.com/ppgo/ppgo/core/internal/fakeworker"
	"github.com/ppgo/ppgo/core/pool"
	"github.com/ppgo/ppgo/core/wire"
)

// Results stream back as each job finishes, not when the batch is done:
// a blocked job does not hold back the results of jobs sent after it.
func TestResultsStreamBack(t *testing.T) {
	nd := startNode(t, 2, nil)
	c := mustDial(t, nd)
	if c.offer.Workers != 2 || c.offer.Credits != 2*DefaultCreditsPerSlot {
		t.Fatalf("offer %+v, want 2 workers and %d credits", c.offer, 2*DefaultCreditsPerSlot)
	}
	c.send(
		&wire.Job{ID: 10, Key: 1, Source: []byte("src"), Args: []byte("block")},
		&wire.Job{ID: 11, Key: 1, Args: []byte("a")},
		&wire.Job{ID: 12, Key: 1, Args: []byte("b")},
		&wire.Job{ID: 13, Key: 1, Args: []byte("c")},
	)
	blocked := nd.hub.NextBlock(t)
	want := map[uint64]string{11: "a", 12: "b", 13: "c"}
	for range 3 {
		r := c.result()
		args, ok := want[r.ID]
		if !ok {
			t.Fatalf("result for job %d, want one of %v (job 10 is still blocked)", r.ID, want)
		}
		delete(want, r.ID)
		if rep := reply(t, r); rep.Args != args || r.ElapsedNS <= 0 {
			t.Errorf("job %d: worker saw %+v, elapsed %d", r.ID, rep, r.ElapsedNS)
		}
	}
	if st := nd.srv.Stats(); st.Running != 1 || st.Jobs != 3 || st.Clients != 1 {
		t.Errorf("Stats with one job blocked = %+v", st)
	}
	blocked.Release()
	r := c.result()
	if rep := reply(t, r); r.ID != 10 || rep.Args != "block" {
		t.Errorf("last result: job %d, worker saw %+v", r.ID, rep)
	}
	if st := nd.srv.Stats(); st.Running != 0 || st.Jobs != 4 || st.Busy <= 0 {
		t.Errorf("Stats at the end = %+v", st)
	}
}

// A job whose key the connection never sent the source of is a protocol
// error: that connection closes, the node keeps serving everyone else.
func TestUnknownKeyClosesConnection(t *testing.T) {
	nd := startNode(t, 1, nil)
	good := mustDial(t, nd)
	bad := mustDial(t, nd)
	bad.send(&wire.Job{ID: 1, Key: 5, Args: []byte("x")})
	bad.closed()
	fakeworker.Eventually(t, deadline, "the bad client's session ends", func() bool {
		return nd.srv.Stats().Clients == 1
	})
	if logs := nd.log.String(); !strings.Contains(logs, "function key 5 before sending its source") {
		t.Errorf("log does not say why:\n%s", logs)
	}
	good.send(&wire.Job{ID: 1, Key: 5, Source: []byte("src"), Args: []byte("fine")})
	if rep := reply(t, good.result()); rep.Args != "fine" || !rep.HasSource {
		t.Errorf("the other client's job: worker saw %+v", rep)
	}
	// A new client is welcome too.
	late := mustDial(t, nd)
	late.send(&wire.Job{ID: 7, Key: 2, Source: []byte("src"), Args: []byte("late")})
	if r := late.result(); r.ID != 7 || reply(t, r).Args != "late" {
		t.Errorf("a client after the failure: result %+v", r)
	}
}

// A client may have exactly its credits of jobs in flight; one more
// closes its connection.
func TestExceedingCreditsClosesConnection(t *testing.T) {
	nd := startNode(t, 1, nil)
	c := mustDial(t, nd)
	credits := c.offer.Credits
	if credits != DefaultCreditsPerSlot {
		t.Fatalf("offer %+v, want %d credits", c.offer, DefaultCreditsPerSlot)
	}
	for i := range credits {
		c.send(&wire.Job{ID: uint64(i + 1), Key: 1, Source: []byte("src"), Args: []byte("block")})
	}
	nd.block(t) // the first runs, the others wait for the worker
	fakeworker.Eventually(t, deadline, "every credit in use", func() bool {
		return nd.srv.Stats().Running == credits
	})
	if st := nd.srv.Stats(); st.Clients != 1 {
		t.Fatalf("a client within its credits was dropped: %+v", st)
	}
	c.send(&wire.Job{ID: 99, Key: 1, Args: []byte("one too many")})
	c.closed()
	fakeworker.Eventually(t, deadline, "the log line", func() bool {
		return strings.Contains(nd.log.String(), fmt.Sprintf("exceeded its %d credits", credits))
	})
}

// A frame the node cannot decode closes that connection only, with a log
// line naming the client and the error.
func TestMalformedFrameClosesOnlyThatConnection(t *testing.T) {
	nd := startNode(t, 1, nil)
	good := mustDial(t, nd)
	tests := []struct {
		name  string
		frame []byte
		log   string
	}{
		// The connection is sealed: what the client did not seal fails to
		// open, whatever it says in clear.
		{"a frame in clear", []byte{0, 0, 0, 0x12, byte(wire.TypeJob), 0x94, 1, 1, 0xc0, 0xc4, 0x0b, 'n', 'o', 't', ' ', 's', 'e', 'a', 'l', 'e', 'd', '!'}, "fails to open"},
		{"a frame too short to be sealed", []byte{0, 0, 0, 2, byte(wire.TypeJob), 0xc1}, "too short for a type and a tag"},
		{"empty frame", []byte{0, 0, 0, 0, byte(wire.TypeJob)}, "too short for a type and a tag"},
		{"frame too large", []byte{0xff, 0xff, 0xff, 0xff, byte(wire.TypeJob)}, "frame too large"},
		{"a server's message", nil, "unexpected Result from a client"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := mustDial(t, nd)
			if tt.frame == nil {
				bad.send(&wire.Result{ID: 1})
			} else if _, err := bad.conn.NetConn().Write(tt.frame); err != nil {
				t.Fatal(err)
			}
			bad.closed()
			me := "client=" + bad.conn.NetConn().LocalAddr().String()
			fakeworker.Eventually(t, deadline, "a log line for "+me, func() bool {
				for _, line := range strings.Split(nd.log.String(), "\n") {
					if strings.Contains(line, me) && strings.Contains(line, "client connection closed") &&
						strings.Contains(line, tt.log) {
						return true
					}
				}
				return false
			})
			id := uint64(i + 1)
			job := &wire.Job{ID: id, Key: 1, Args: []byte(tt.name)}
			if i == 0 {
				job.Source = []byte("src")
			}
			good.send(job)
			if r := good.result(); r.ID != id || reply(t, r).Args != tt.name {
				t.Errorf("the good client's job after the failure: %+v", r)
			}
		})
	}
	fakeworker.Eventually(t, deadline, "only the good client left", func() bool {
		return nd.srv.Stats().Clients == 1
	})
}

func TestWrongSecretRefused(t *testing.T) {
	nd := startNode(t, 1, nil)
	_, err := dial(t, nd, "not the secret")
	if !errors.Is(err, auth.ErrWrongSecret) || strings.Contains(err.Error(), "could not prove") {
		t.Fatalf("handshake with a wrong secret: %v, want the node's Refused(wrong secret)", err)
	}
	fakeworker.Eventually(t, deadline, "AuthFailures counted", func() bool {
		return nd.srv.Stats().AuthFailures == 1
	})
	if st := nd.srv.Stats(); st.Clients != 0 {
		t.Errorf("a refused client counts as connected: %+v", st)
	}
	fakeworker.Eventually(t, deadline, "a log line about the wrong secret", func() bool {
		return strings.Contains(nd.log.String(), "wrong secret") // logged after the count
	})
	c := mustDial(t, nd)
	c.send(&wire.Job{ID: 1, Key: 1, Source: []byte("src"), Args: []byte("ok")})
	reply(t, c.result())
	if st := nd.srv.Stats(); st.AuthFailures != 1 {
		t.Errorf("AuthFailures = %d after one refusal and one success", st.AuthFailures)
	}
}

// Two clients sending equal source under their own keys share one node
// function: the worker is sent the source once.
func TestEqualSourceSharedAcrossClients(t *testing.T) {
	nd := startNode(t, 1, nil)
	c1, c2 := mustDial(t, nd), mustDial(t, nd)
	c1.send(&wire.Job{ID: 1, Key: 5, Source: []byte("def f(): pass"), Args: []byte("c1")})
	first := reply(t, c1.result())
	if !first.HasSource || first.Source != "def f(): pass" {
		t.Fatalf("first job: worker saw %+v", first)
	}
	c2.send(&wire.Job{ID: 1, Key: 9, Source: []byte("def f(): pass"), Args: []byte("c2")})
	second := reply(t, c2.result())
	if second.HasSource || second.Key != first.Key || second.PID != first.PID {
		t.Errorf("equal source from another client: worker saw %+v, first %+v", second, first)
	}
	c2.send(&wire.Job{ID: 2, Key: 9, Args: []byte("again")})
	if again := reply(t, c2.result()); again.Key != first.Key || again.HasSource {
		t.Errorf("the second client's key without source: worker saw %+v", again)
	}
	c2.send(&wire.Job{ID: 3, Key: 7, Source: []byte("def g(): pass"), Args: []byte("other")})
	if other := reply(t, c2.result()); !other.HasSource || other.Key == first.Key || other.Source != "def g(): pass" {
		t.Errorf("different source: worker saw %+v", other)
	}
}

// Shutdown says Goodbye at once, refuses new clients and jobs, sends the
// result of every job it had, and only then closes the connection.
func TestShutdownDrains(t *testing.T) {
	nd := startNode(t, 1, func(c *Config) { c.CreditsPerSlot = 3 })
	c := mustDial(t, nd)
	c.send(
		&wire.Job{ID: 1, Key: 1, Source: []byte("src"), Args: []byte("block")},
		&wire.Job{ID: 2, Key: 1, Args: []byte("block")},
	)
	first := nd.hub.NextBlock(t)
	fakeworker.Eventually(t, deadline, "both jobs on the node", func() bool {
		return nd.srv.Stats().Running == 2
	})
	if st := nd.srv.State(); st != Serving {
		t.Fatalf("State before Shutdown: %v, want serving", st)
	}
	shutdown := make(chan error, 1)
	go func() { shutdown <- nd.srv.Shutdown(context.Background()) }()

	m, err := c.read()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if _, ok := m.(*wire.Goodbye); !ok {
		t.Fatalf("got %v, want Goodbye first", m.MessageType())
	}
	if st := nd.srv.State(); st != Draining {
		t.Errorf("State after the Goodbye, jobs running: %v, want draining", st)
	}
	if nc, err := net.DialTimeout("tcp", nd.addr, deadline); err == nil {
		nc.Close()
		t.Error("a draining node still accepts connections")
	}
	// A job sent after the Goodbye crossed it on the wire: refused as lost,
	// so the client runs it elsewhere.
	c.send(&wire.Job{ID: 3, Key: 1, Args: []byte("late")})
	if r := c.result(); r.ID != 3 || r.Status != wire.StatusLost || r.Reason != "server shutting down" {
		t.Fatalf("job sent after Goodbye: %+v, want it lost", r)
	}

	first.Release()
	if r := c.result(); r.ID != 1 || reply(t, r).Args != "block" {
		t.Fatalf("first result %+v", r)
	}
	select {
	case err := <-shutdown:
		t.Fatalf("Shutdown returned %v with a job still running", err)
	default:
	}
	nd.hub.NextBlock(t).Release()
	if r := c.result(); r.ID != 2 {
		t.Fatalf("second result %+v", r)
	}
	c.closed()
	select {
	case err := <-shutdown:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(deadline):
		t.Fatal("Shutdown did not return after the last result")
	}
	if st := nd.srv.Stats(); st.Jobs != 2 || st.Running != 0 {
		t.Errorf("Stats after Shutdown = %+v", st)
	}
	if st := nd.srv.State(); st != Closed {
		t.Errorf("State after Shutdown: %v, want closed", st)
	}
}

// Shutdown gives up when its context ends, says how many jobs were still
// running, and closes anyway.
func TestShutdownTimesOut(t *testing.T) {
	nd := startNode(t, 1, nil)
	c := mustDial(t, nd)
	c.send(&wire.Job{ID: 1, Key: 1, Source: []byte("src"), Args: []byte("block")})
	nd.block(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := nd.srv.Shutdown(ctx)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "1 jobs still running") {
		t.Errorf("Shutdown with a job stuck: %v", err)
	}
	for {
		m, err := c.read()
		if err != nil {
			break
		}
		if _, ok := m.(*wire.Goodbye); !ok {
			t.Fatalf("got %v after an abandoned shutdown", m.MessageType())
		}
	}
	if err := nd.srv.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
}

func TestIdleSince(t *testing.T) {
	nd := startNode(t, 1, nil)
	st := nd.srv.Stats()
	if st.Started.IsZero() || !st.IdleSince.Equal(st.Started) || st.Clients != 0 {
		t.Fatalf("fresh node: %+v, want IdleSince = Started", st)
	}
	c1, c2 := mustDial(t, nd), mustDial(t, nd)
	fakeworker.Eventually(t, deadline, "two clients", func() bool { return nd.srv.Stats().Clients == 2 })
	if st := nd.srv.Stats(); !st.IdleSince.IsZero() {
		t.Errorf("IdleSince = %v with clients connected", st.IdleSince)
	}
	c1.conn.Close()
	fakeworker.Eventually(t, deadline, "one client", func() bool { return nd.srv.Stats().Clients == 1 })
	if st := nd.srv.Stats(); !st.IdleSince.IsZero() {
		t.Errorf("IdleSince = %v with a client still connected", st.IdleSince)
	}
	left := time.Now()
	c2.conn.Close()
	fakeworker.Eventually(t, deadline, "no client", func() bool { return nd.srv.Stats().Clients == 0 })
	if st := nd.srv.Stats(); st.IdleSince.Before(left) {
		t.Errorf("IdleSince = %v, before the last client left at %v", st.IdleSince, left)
	}
}

// The node heartbeats a quiet connection, keeps a client that answers,
// and drops one silent for longer than Silence.
func TestSilence(t *testing.T) {
	const silence = 200 * time.Millisecond
	nd := startNode(t, 1, func(c *Config) { c.Silence = silence })

	start := time.Now() // before the node's clock for the client starts
	mute := mustDial(t, nd)
	beats := 0
	for {
		mute.conn.SetDeadline(time.Now().Add(deadline))
		m, err := mute.conn.Read()
		if err != nil {
			break
		}
		if _, ok := m.(*wire.Heartbeat); !ok {
			t.Fatalf("silent client got %v", m.MessageType())
		}
		beats++
	}
	if el := time.Since(start); el < silence || el > deadline/2 {
		t.Errorf("silent client dropped after %v, Silence is %v", el, silence)
	}
	if beats == 0 {
		t.Error("the node sent no heartbeat to a quiet client")
	}
	// The reader's deadline is the writer's too: a heartbeat due just then
	// may fail first, and the session is logged as a failed write.
	fakeworker.Eventually(t, deadline, "the silent client's log line", func() bool {
		logs := nd.log.String()
		return strings.Contains(logs, "client silent for") || strings.Contains(logs, "i/o timeout")
	})

	// A client that heartbeats back stays, well past Silence.
	c := mustDial(t, nd)
	start = time.Now()
	for time.Since(start) < 3*silence {
		c.conn.SetDeadline(time.Now().Add(deadline))
		m, err := c.conn.Read()
		if err != nil {
			t.Fatalf("heartbeating client dropped after %v: %v", time.Since(start), err)
		}
		if _, ok := m.(*wire.Heartbeat); !ok {
			t.Fatalf("got %v", m.MessageType())
		}
		c.send(&wire.Heartbeat{})
	}
	c.conn.SetDeadline(time.Time{})
	c.send(&wire.Job{ID: 1, Key: 1, Source: []byte("src"), Args: []byte("still here")})
	if rep := reply(t, c.result()); rep.Args != "still here" {
		t.Errorf("worker saw %+v", rep)
	}
}

// A client that leaves takes its queued jobs with it, and a draining node
// does not wait for the ones still running: nobody wants their results.
func TestDepartedClientsJobsAreNotWaitedFor(t *testing.T) {
	nd := startNode(t, 1, nil)
	c := mustDial(t, nd)
	c.send(
		&wire.Job{ID: 1, Key: 1, Source: []byte("src"), Args: []byte("block")},
		&wire.Job{ID: 2, Key: 1, Args: []byte("queued behind the block")},
	)
	blocked := nd.hub.NextBlock(t)
	defer blocked.Release()
	c.conn.Close()
	fakeworker.Eventually(t, deadline, "the queued job dropped", func() bool {
		st := nd.srv.Stats()
		return st.Clients == 0 && st.Running == 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if err := nd.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown waited for a departed client's job: %v", err)
	}
}

// The credit window follows the node's pool: short jobs open it to fill
// the workers' pipelines, a long job closes it again, and the client is
// told each time.
func TestCreditsFollowJobLength(t *testing.T) {
	nd := startNode(t, 2, nil)
	c := mustDial(t, nd)
	long := 2 * DefaultCreditsPerSlot
	if c.offer.Credits != long {
		t.Fatalf("initial credits %d, want %d (one slot per worker)", c.offer.Credits, long)
	}
	c.send(&wire.Job{ID: 1, Key: 1, Source: []byte("src"), Args: []byte("short")})
	c.result()
	short := 2 * pool.MaxJobsPerWorker * DefaultCreditsPerSlot
	fakeworker.Eventually(t, deadline, "the window to open", func() bool {
		c.send(&wire.Job{ID: 2, Key: 1, Args: []byte("short")})
		c.result()
		return c.credits == short
	})
	// The whole window at once is accepted.
	for i := range short {
		c.send(&wire.Job{ID: uint64(100 + i), Key: 1, Args: []byte("short")})
	}
	for range short {
		c.result()
	}
	c.send(&wire.Job{ID: 3, Key: 1, Args: []byte("sleep:1ms")}) // reports over a second
	c.result()
	fakeworker.Eventually(t, deadline, "the window to close", func() bool {
		c.send(&wire.Job{ID: 4, Key: 1, Args: []byte("sleep:1ms")})
		c.result()
		return c.credits == long
	})
}
