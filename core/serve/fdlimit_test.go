//go:build linux

package serve

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ppgo/ppgo/core/auth"
	"github.com/ppgo/ppgo/core/internal/fakeworker"
	"github.com/ppgo/ppgo/core/wire"
)

// fdChildEnv makes this test binary the node of TestOutOfFileDescriptors,
// with a file descriptor limit of childFDLimit; its value is
// MaxHandshakes (empty: the default).
const (
	fdChildEnv   = "PPGO_SERVE_FD_CHILD"
	childFDLimit = 64
)

// A flood of connections that never authenticate does not stop a node,
// whose file descriptor limit is low. With the default limits, sized from
// that limit, the flood is closed unheard before the node runs out; with
// limits above it, Accept fails with EMFILE and the node backs off and
// retries. Either way a client that authenticates afterwards is served.
// The node runs in a child process, whose limit can be lowered.
func TestOutOfFileDescriptors(t *testing.T) {
	if v, ok := os.LookupEnv(fdChildEnv); ok {
		runFDChild(t, v)
		return
	}
	for _, tc := range []struct {
		name       string
		handshakes string
		want       string // in the node's log while flooded
		notWant    string
	}{
		{"default limits", "", "client refused unheard", "accept failed"},
		{"limits above the fd limit", "1000", "too many open files", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestOutOfFileDescriptors$", "-test.v")
			cmd.Env = append(os.Environ(), fdChildEnv+"="+tc.handshakes)
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			logs := &logBuffer{}
			cmd.Stderr = logs
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			out := bufio.NewScanner(stdout)
			var addr, said string
			for addr == "" && out.Scan() {
				if a, ok := strings.CutPrefix(out.Text(), "node "); ok {
					addr = a
				}
				said += out.Text() + "\n"
			}
			if addr == "" {
				t.Fatalf("the child node did not say where it listens:\n%s\nits log:\n%s", said, logs)
			}
			go io.Copy(io.Discard, stdout)
			nd := &node{addr: addr}

			// More connections than the node has descriptors, all from
			// 127.0.0.1, none of them saying a word.
			var flood []net.Conn
			for range 2 * childFDLimit {
				if nc := dialFrom(t, nd, "127.0.0.1"); nc != nil {
					flood = append(flood, nc)
				}
			}
			fakeworker.Eventually(t, deadline, fmt.Sprintf("%q in the node's log", tc.want), func() bool {
				return strings.Contains(logs.String(), tc.want)
			})
			for _, nc := range flood {
				nc.Close()
			}

			// A client from another address is served, redialling while
			// the node works through the flood it had queued.
			var conn *wire.Conn
			for start := time.Now(); conn == nil; {
				if time.Since(start) > deadline {
					t.Fatalf("no handshake with the node within %v; its log:\n%s", deadline, logs)
				}
				nc := dialFrom(t, nd, "127.0.0.2")
				if nc == nil {
					continue
				}
				c := wire.NewConn(nc)
				if _, err := auth.Client(c, []byte(secret), deadline); err != nil {
					nc.Close()
					continue
				}
				c.SetMaxFrame(wire.DefaultMaxFrame)
				conn = c
			}
			cl := &client{t: t, conn: conn}
			cl.send(&wire.Job{ID: 1, Key: 1, Source: []byte("src"), Args: []byte("served")})
			if rep := reply(t, cl.result()); rep.Args != "served" {
				t.Errorf("worker saw %+v", rep)
			}

			stdin.Close() // the child stops its node and exits
			if err := cmd.Wait(); err != nil {
				t.Errorf("child node: %v; its log:\n%s", err, logs)
			}
			if tc.notWant != "" && strings.Contains(logs.String(), tc.notWant) {
				t.Errorf("the node's log has %q:\n%s", tc.notWant, logs)
			}
		})
	}
}

// runFDChild is the child's side: a node with childFDLimit descriptors,
// logging to stderr, that says where it listens and serves until its
// stdin closes.
func runFDChild(t *testing.T, handshakes string) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	lim.Cur = childFDLimit
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(handshakes)
	nd := startNode(t, 1, func(c *Config) {
		c.MaxHandshakes = n
		c.MaxHandshakesPerAddr = n
		c.HandshakeTimeout = time.Second
		c.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	})
	if n == 0 && nd.srv.Config().MaxHandshakes != childFDLimit/handshakeFDShare {
		t.Errorf("MaxHandshakes %d with %d descriptors, want %d", nd.srv.Config().MaxHandshakes, childFDLimit, childFDLimit/handshakeFDShare)
	}
	fmt.Printf("node %s\n", nd.addr)
	io.Copy(io.Discard, os.Stdin)
}
