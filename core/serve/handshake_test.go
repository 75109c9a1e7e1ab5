package serve

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ppgo/ppgo/core/auth"
	"github.com/ppgo/ppgo/core/wire"
)

// dialFrom connects to nd from a loopback address of its own (127.0.0.2,
// ...), so that a test can be several sources at once. It returns nil if
// the node reset the connection before the dial returned: it refuses
// connections unheard with a reset.
func dialFrom(t *testing.T, nd *node, from string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: deadline, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	nc, err := d.Dial("tcp", nd.addr)
	if isReset(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }

// hello reports whether the node opens the handshake on nc (sends its
// Hello) rather than closing the connection unheard.
func hello(t *testing.T, nc net.Conn) bool {
	t.Helper()
	if nc == nil {
		return false // reset while dialling
	}
	conn := wire.NewConn(nc)
	nc.SetReadDeadline(time.Now().Add(deadline))
	m, err := conn.Read()
	if err == nil {
		if _, ok := m.(*wire.Hello); !ok {
			t.Fatalf("node opened with %v", m.MessageType())
		}
		return true
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("node neither greeted nor closed the connection within %v", deadline)
	}
	return false
}

// Connections that have not authenticated are capped per source address
// and in all: beyond the caps they are closed unheard, and one address
// holding its share does not keep the others out.
func TestHandshakesAreCappedPerAddressAndInAll(t *testing.T) {
	nd := startNode(t, 1, func(c *Config) {
		c.MaxHandshakes = 4
		c.MaxHandshakesPerAddr = 2
		c.HandshakeTimeout = time.Minute // the holders keep their slots
	})
	for i := range 2 {
		if nc := dialFrom(t, nd, "127.0.0.1"); !hello(t, nc) {
			t.Fatalf("connection %d from 127.0.0.1 refused under the cap", i+1)
		}
	}
	if hello(t, dialFrom(t, nd, "127.0.0.1")) {
		t.Fatal("a third connection from 127.0.0.1 was greeted over the per-address cap of 2")
	}
	second := dialFrom(t, nd, "127.0.0.2")
	if !hello(t, second) || !hello(t, dialFrom(t, nd, "127.0.0.2")) {
		t.Fatal("another address was refused while 127.0.0.1 held its share")
	}
	if hello(t, dialFrom(t, nd, "127.0.0.3")) {
		t.Fatal("a connection was greeted with 4 handshakes, the cap, in progress")
	}
	// A slot that frees up is taken by the next comer, once the node has
	// seen the connection go.
	second.Close()
	for start := time.Now(); !hello(t, dialFrom(t, nd, "127.0.0.3")); {
		if time.Since(start) > deadline {
			t.Fatalf("no slot free %v after a connection in its handshake closed", deadline)
		}
	}
	if st := nd.srv.Stats(); st.Refused < 2 || st.AuthFailures > 1 {
		t.Errorf("Stats = %+v, want at least 2 refused and at most the closed one failed", st)
	}
	for _, want := range []string{
		"client refused unheard: 2 handshakes in progress from its address",
		"client refused unheard: 4 handshakes in progress",
	} {
		if !strings.Contains(nd.log.String(), want) {
			t.Errorf("log has no %q:\n%s", want, nd.log.String())
		}
	}
}

// A source that fails handshakes thousands of times a second gets its
// burst and then one a second; the rest of its connections are closed
// unheard, and the log says so in three lines instead of one each: the
// first failure, the first refusal, and a summary. Other sources are not
// affected.
func TestFailedHandshakesAreRateLimitedPerAddress(t *testing.T) {
	const (
		attempts = 600
		burst    = 5
		rate     = 2.0 // per second
		parallel = 4
	)
	nd := startNode(t, 1, func(c *Config) {
		c.FailedHandshakeBurst = burst
		c.FailedHandshakeRate = rate
		c.SummaryInterval = time.Hour // summed up when the node closes
	})
	var ran, unheard atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range attempts / parallel {
				nc, err := net.DialTimeout("tcp", nd.addr, deadline)
				if err == nil {
					_, err = auth.Client(wire.NewConn(nc), []byte(fmt.Sprint("guess ", w)), deadline)
					nc.Close()
				}
				switch {
				case errors.Is(err, auth.ErrWrongSecret):
					ran.Add(1)
				case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isReset(err):
					unheard.Add(1)
				default:
					t.Errorf("handshake with a wrong secret: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	// The bucket may go below zero by the handshakes that were in
	// progress together when it ran dry.
	allowed := int64(burst + rate*elapsed.Seconds() + parallel)
	t.Logf("%d handshakes in %v: %d ran, %d closed unheard", attempts, elapsed, ran.Load(), unheard.Load())
	if ran.Load() > allowed || ran.Load()+unheard.Load() != attempts {
		t.Errorf("%d handshakes ran and %d were closed unheard, want at most %d to run", ran.Load(), unheard.Load(), allowed)
	}

	// Another address still gets in, with the right secret.
	if _, err := auth.Client(wire.NewConn(dialFrom(t, nd, "127.0.0.2")), []byte(secret), deadline); err != nil {
		t.Errorf("a client from another address: %v", err)
	}

	st := nd.srv.Stats()
	if int64(st.AuthFailures) != ran.Load() || int64(st.Refused) != unheard.Load() {
		t.Errorf("Stats = %+v, want %d failures and %d refused", st, ran.Load(), unheard.Load())
	}
	nd.srv.Close()
	var lines, summaries []string
	for _, line := range strings.Split(nd.log.String(), "\n") {
		if strings.Contains(line, "refused") && !strings.Contains(line, "127.0.0.2") {
			lines = append(lines, line)
		}
		if strings.Contains(line, fmt.Sprintf("refused %d failed handshakes from 127.0.0.1 in the last ", attempts)) &&
			strings.Contains(line, fmt.Sprintf("wrong_secret=%d failed_otherwise=0 closed_unheard=%d", ran.Load(), unheard.Load())) {
			summaries = append(summaries, line)
		}
	}
	// The first failure and the first refusal, as they happened, then the
	// summary.
	if len(lines) != 3 || len(summaries) != 1 || !strings.Contains(lines[0], "client refused: wrong secret") ||
		!strings.Contains(lines[1], "client refused unheard: too many failed handshakes from its address") {
		t.Errorf("want the first failure, the first refusal and one summary in the log, got:\n%s", strings.Join(lines, "\n"))
	}
}
