package serve

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ppgo/ppgo/core/auth"
	"github.com/ppgo/ppgo/core/internal/fakeworker"
	"github.com/ppgo/ppgo/core/wire"
)

// rawClient authenticates with a small receive buffer and then does with
// its socket what a test says: typically, it never reads.
type rawClient struct {
	nc    net.Conn
	conn  *wire.Conn
	offer auth.Offer
}

// dialRaw connects to nd with a receive buffer of 32 KiB, so that the
// node's writes block after its own send buffer (a few MiB) is full.
func dialRaw(t *testing.T, nd *node) *rawClient {
	t.Helper()
	d := net.Dialer{Timeout: deadline, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 32<<10)
		})
		return errors.Join(err, serr)
	}}
	nc, err := d.Dial("tcp", nd.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	conn := wire.NewConn(nc)
	offer, err := auth.Client(conn, []byte(secret), deadline)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	conn.SetMaxFrame(wire.DefaultMaxFrame)
	return &rawClient{nc: nc, conn: conn, offer: offer}
}

func (c *rawClient) send(t *testing.T, ms ...wire.Message) {
	t.Helper()
	for _, m := range ms {
		if err := c.conn.Write(m); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	if err := c.conn.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
}

// padJob is a job whose result carries n bytes.
func padJob(id uint64, n int) *wire.Job {
	j := &wire.Job{ID: id, Key: 1, Args: []byte(fmt.Sprint("pad:", n))}
	if id == 1 {
		j.Source = []byte("src")
	}
	return j
}

// A result holds its client's credit until the node sends it, not only
// until the job finishes: a client that does not read cannot make the
// node hold more results than its window, however many jobs it sends.
func TestResultsHoldTheirCreditsUntilSent(t *testing.T) {
	const resultSize = 8 << 20 // several times what socket buffers hold
	nd := startNode(t, 1, func(c *Config) {
		c.CreditsPerSlot = 4
		c.Silence = time.Minute // the client sends no heartbeats
		c.WriteTimeout = time.Minute
		c.MaxQueuedBytes = 1 << 30
	})
	c := dialRaw(t, nd)
	window := c.offer.Credits
	if window != 4 {
		t.Fatalf("window %d, want 4", window)
	}
	for i := range window {
		c.send(t, padJob(uint64(i+1), resultSize))
	}
	fakeworker.Eventually(t, deadline, "the node to run the window's jobs", func() bool {
		st := nd.srv.Stats()
		return st.Jobs == uint64(window) && st.Running == 0
	})
	if unsent := nd.srv.Stats().UnsentBytes; unsent > int64(window)*(resultSize+1024) {
		t.Errorf("%d bytes of results unsent, more than the window's %d results", unsent, window)
	}
	// The results are done but not all sent, so a second window is over
	// the credits. Writes may fail once the node has had enough.
	for i := range window {
		c.conn.Write(&wire.Job{ID: uint64(100 + i), Key: 1, Args: []byte("x")})
		c.conn.Flush()
	}
	fakeworker.Eventually(t, deadline, "the client to be dropped", func() bool {
		return nd.srv.Stats().Clients == 0 && strings.Contains(nd.log.String(), fmt.Sprintf("exceeded its %d credits", window))
	})
	fakeworker.Eventually(t, deadline, "its results to be let go", func() bool {
		return nd.srv.Stats().UnsentBytes == 0
	})
}

// A client that stops reading its results, or reads them too slowly for
// its queue to get back under MaxQueuedBytes within WriteTimeout, is
// dropped as a slow consumer with a line that says how much it left
// unread, and its jobs still queued on the node go as those of any client
// that left.
func TestSlowConsumersAreDropped(t *testing.T) {
	const (
		results    = 16
		resultSize = 1 << 20
	)
	for _, tc := range []struct {
		name  string
		tweak func(*Config)
		read  func(nc net.Conn) // what the client does with its socket
		why   string            // in the slow consumer line
	}{
		{
			name: "never reads",
			tweak: func(c *Config) {
				c.WriteTimeout = 300 * time.Millisecond
				c.MaxQueuedBytes = 1 << 30
			},
			read: func(net.Conn) {},
			why:  "write_timeout=300ms",
		},
		{
			name: "reads a trickle",
			tweak: func(c *Config) {
				c.WriteTimeout = time.Second
				c.MaxQueuedBytes = 2 << 20
			},
			// 3 MB/s: the writer never waits a second for its next chunk,
			// but 16 MiB take five seconds to go.
			read: func(nc net.Conn) {
				buf := make([]byte, 64<<10)
				for {
					time.Sleep(20 * time.Millisecond)
					if _, err := nc.Read(buf); err != nil {
						return
					}
				}
			},
			why: `queued_limit="2.0 MiB"`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nd := startNode(t, 2, func(c *Config) {
				c.CreditsPerSlot = 16
				c.Silence = time.Minute // the client sends no heartbeats
				tc.tweak(c)
			})
			c := dialRaw(t, nd)
			for i := range results {
				c.send(t, padJob(uint64(i+1), resultSize))
			}
			// Then jobs that hold both workers (the hub releases them when
			// the test ends), and more that wait behind them in the
			// pool's backlog.
			for i := range 2 {
				c.send(t, &wire.Job{ID: uint64(50 + i), Key: 1, Args: []byte("block")})
			}
			for i := range 4 {
				c.send(t, &wire.Job{ID: uint64(60 + i), Key: 1, Args: []byte("queued")})
			}
			go tc.read(c.nc)

			line := regexp.MustCompile(`slow consumer: client ` + regexp.QuoteMeta(c.nc.LocalAddr().String()) +
				` has \d+\.\d MiB of results unread for [0-9.]+m?s"? .*` + regexp.QuoteMeta(tc.why))
			fakeworker.Eventually(t, deadline, "the slow consumer line", func() bool {
				return line.MatchString(nd.log.String())
			})
			fakeworker.Eventually(t, deadline, "the client gone and its results let go", func() bool {
				st := nd.srv.Stats()
				return st.Clients == 0 && st.UnsentBytes == 0 && st.SlowConsumers == 1
			})
			fakeworker.Eventually(t, deadline, "its queued jobs dropped", func() bool {
				return strings.Contains(nd.log.String(), "dropped the queued jobs of a client that left")
			})
			if n := strings.Count(nd.log.String(), "slow consumer"); n != 1 {
				t.Errorf("%d slow consumer lines, want 1:\n%s", n, nd.log.String())
			}
		})
	}
}
