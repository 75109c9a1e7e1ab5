package jobserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/ppgo/ppgo/core/internal/fakeworker"
	"github.com/ppgo/ppgo/core/sched"
)

// tee is a TCP relay on loopback that records every byte it passes, both
// ways: what anyone on the network between a client and a ppserver sees.
type tee struct {
	addr string
	mu   sync.Mutex
	seen bytes.Buffer
}

func startTee(t *testing.T, target string) *tee {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	tp := &tee{addr: ln.Addr().String()}
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			t.Cleanup(func() { in.Close(); out.Close() })
			go tp.copy(out, in)
			go tp.copy(in, out)
		}
	}()
	return tp
}

func (tp *tee) copy(to, from net.Conn) {
	io.Copy(struct{ io.Writer }{writerFunc(func(p []byte) (int, error) {
		tp.mu.Lock()
		tp.seen.Write(p)
		tp.mu.Unlock()
		return to.Write(p)
	})}, from)
	to.Close()
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func (tp *tee) bytes() []byte {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return bytes.Clone(tp.seen.Bytes())
}

// TestNothingCrossesTheWireInClear: a job's function source, its
// arguments and its result travel encrypted between a client and a
// ppserver. A tee on the connection sees every byte of a job that runs
// there and comes back intact, and none of them in clear.
func TestNothingCrossesTheWireInClear(t *testing.T) {
	const marker = "PLAINTEXT-MARKER-1234"
	source := "def f(x):\n    return 'SOURCE-MARKER-5678'\n"
	_, node := startNode(t, 1, "a secret for TestNothingCrossesTheWireInClear")
	tp := startTee(t, node)
	s := newClient(t, 0, "a secret for TestNothingCrossesTheWireInClear", tp.addr)
	s.Register(1, []byte(source))
	var ids []uint64
	for range 3 {
		ids = append(ids, submit(t, s, 1, marker, "", false))
	}
	for _, id := range ids {
		var rep fakeworker.Reply
		if err := json.Unmarshal(result(t, s, id, sched.StatusDone).Data, &rep); err != nil {
			t.Fatal(err)
		}
		// The echo worker answers with what it was given: the result
		// carries the marker back, so it crossed the tee both ways.
		if rep.Args != marker || rep.HasSource && rep.Source != source {
			t.Fatalf("job %d: reply %+v", id, rep)
		}
	}
	seen := tp.bytes()
	if len(seen) < 3*len(marker) {
		t.Fatalf("the tee saw only %d bytes", len(seen))
	}
	for _, clear := range []string{marker, "PLAINTEXT", "SOURCE-MARKER", "def f(x)"} {
		if bytes.Contains(seen, []byte(clear)) {
			t.Errorf("%q crossed the wire in clear", clear)
		}
	}
}

// A client with a weak secret hears about it once, when it first expects
// remote nodes; one with a strong secret, or without remotes, does not.
func TestWeakSecretWarnedOnce(t *testing.T) {
	for _, tc := range []struct {
		name, secret string
		remotes      int
		want         string // in the one warning; "" for none
	}{
		{"short", "s3cret", 2, "short (6 characters)"},
		{"legacy default", "epo20pdosl;dksldkmm", 1, "published default"},
		{"strong", "a strong secret for TestWeakSecretWarnedOnce", 2, ""},
		{"short, local only", "s3cret", 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var addrs []string // nothing answers there: only the warning matters
			for i := range tc.remotes {
				addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", i+1))
			}
			s := newClient(t, 0, tc.secret, addrs...)
			var warned []string
			for _, e := range drainEvents(s) {
				if strings.Contains(e.Message, "secret is") {
					warned = append(warned, e.Message)
				}
			}
			switch {
			case tc.want == "" && len(warned) != 0:
				t.Errorf("warned %q", warned)
			case tc.want != "" && (len(warned) != 1 || !strings.Contains(warned[0], tc.want)):
				t.Errorf("warnings %q, want one saying %q", warned, tc.want)
			}
		})
	}
}
