package serve

import (
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ppgo/ppgo/core/internal/fakeworker"
	"github.com/ppgo/ppgo/core/pool"
	"github.com/ppgo/ppgo/core/wire"
)

// failingListener fails its first n Accepts the way the kernel does when
// the process is out of file descriptors, and records when each was made.
type failingListener struct {
	net.Listener
	mu    sync.Mutex
	n     int
	calls []time.Time
}

func (l *failingListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	l.calls = append(l.calls, time.Now())
	fail := len(l.calls) <= l.n
	l.mu.Unlock()
	if fail {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

func (l *failingListener) times() []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Time(nil), l.calls...)
}

// Running out of file descriptors does not stop the node: Accept is
// retried after a wait that doubles from 5 ms, clients are served once it
// succeeds again, and the failures take two log lines, not one each.
func TestAcceptFailuresBackOffAndNeverStopTheNode(t *testing.T) {
	const failures = 6
	var fl *failingListener
	nd := startNodeOn(t, 1, nil, func(ln net.Listener) net.Listener {
		fl = &failingListener{Listener: ln, n: failures}
		return fl
	})
	c := mustDial(t, nd)
	c.send(&wire.Job{ID: 1, Key: 1, Source: []byte("src"), Args: []byte("after EMFILE")})
	if rep := reply(t, c.result()); rep.Args != "after EMFILE" {
		t.Errorf("worker saw %+v", rep)
	}
	calls := fl.times()
	if len(calls) < failures+1 {
		t.Fatalf("%d Accept calls, want at least %d", len(calls), failures+1)
	}
	want := acceptBackoffMin
	for i := 1; i <= failures; i++ {
		if gap := calls[i].Sub(calls[i-1]); gap < want {
			t.Errorf("Accept %d came %v after the failure before it, want at least %v", i+1, gap, want)
		}
		want = min(2*want, acceptBackoffMax)
	}

	nd.srv.Close() // sums up what the interval counted
	var retrying, summary int
	for _, line := range strings.Split(nd.log.String(), "\n") {
		switch {
		case strings.Contains(line, "accept failed, retrying") && strings.Contains(line, "too many open files"):
			retrying++
		case strings.Contains(line, "accept failed 6 times in the last") && strings.Contains(line, "too many open files"):
			summary++
		case strings.Contains(line, "accept failed"):
			t.Errorf("unexpected line: %s", line)
		}
	}
	if retrying != 1 || summary != 1 {
		t.Errorf("%d retrying lines and %d summaries, want one of each:\n%s", retrying, summary, nd.log.String())
	}
}

// A node whose listener is closed under it (not by Shutdown or Close)
// says so instead of retrying forever: nothing more can be accepted.
func TestServeReturnsWhenTheListenerIsClosedUnderIt(t *testing.T) {
	h := fakeworker.NewHub(t, deadline)
	argv, env := h.Command("echo")
	srv, err := New(Config{Pool: pool.Config{Argv: argv, Env: env, Workers: 1}, Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	ln.Close()
	select {
	case err := <-served:
		if err == nil || err == ErrClosed || !strings.Contains(err.Error(), "accept") {
			t.Errorf("Serve returned %v, want the accept error", err)
		}
	case <-time.After(deadline):
		t.Fatal("Serve still running on a closed listener")
	}
}
