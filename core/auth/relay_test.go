package auth_test

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ppgo/ppgo/core/wire"
)

// relay is a man in the middle: it passes bytes both ways between a real
// client and a real server, records them, and can speak to the server
// itself.
type relay struct {
	toServer net.Conn
	mu       sync.Mutex
	seen     bytes.Buffer // every byte that crossed, both ways
}

// newRelay connects client to server through a relay.
func newRelay(t *testing.T, tr transport) (client, server net.Conn, r *relay) {
	client, mitmClient := tr.Pair(t)
	mitmServer, server := tr.Pair(t)
	r = &relay{toServer: mitmServer}
	go r.pass(mitmServer, mitmClient)
	go r.pass(mitmClient, mitmServer)
	return client, server, r
}

func (r *relay) pass(from, to net.Conn) {
	buf := make([]byte, 4096)
	for {
		n, err := from.Read(buf)
		if n > 0 {
			r.mu.Lock()
			r.seen.Write(buf[:n])
			_, werr := to.Write(buf[:n])
			r.mu.Unlock()
			if werr != nil {
				return
			}
		}
		if err != nil {
			to.Close()
			return
		}
	}
}

// inject writes raw bytes to the server, between the client's frames.
func (r *relay) inject(b []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, err := r.toServer.Write(b)
	return err
}

func (r *relay) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.seen.Bytes())
}

// A man in the middle who relays a real client's handshake to a real
// server sees the session, but cannot read it: what the client sends
// reaches the server intact and nowhere in clear.
func TestRelayedSessionIsUnreadable(t *testing.T) {
	const marker = "PLAINTEXT-MARKER-1234"
	for _, tr := range transports {
		t.Run(tr.Name, func(t *testing.T) {
			c, s, r := newRelay(t, tr)
			client := goClientConn(c, secret)
			srv := await(t, "server", goServerConn(s, secret, offer))
			cl := await(t, "client", client)
			if srv.err != nil || cl.err != nil {
				t.Fatalf("server: %v, client: %v", srv.err, cl.err)
			}
			srv.conn.SetMaxFrame(wire.DefaultMaxFrame)
			srv.conn.SetDeadline(time.Now().Add(guard))
			job := &wire.Job{ID: 1, Key: 1, Source: []byte("def f(x): return '" + marker + "'"), Args: []byte(marker)}
			go send(cl.conn, job)
			m, err := srv.conn.Read()
			if j, ok := m.(*wire.Job); err != nil || !ok || string(j.Args) != marker {
				t.Fatalf("the server read %+v, %v through the relay", m, err)
			}
			if seen := r.bytes(); bytes.Contains(seen, []byte(marker)) || bytes.Contains(seen, []byte("PLAINTEXT")) {
				t.Fatalf("the relay saw the job in clear")
			}
		})
	}
}

// A man in the middle who relays a real client's handshake to a real
// server gets an authenticated connection, but cannot speak on it: the
// session is sealed with keys only the two ends can derive.
func TestRelayedHandshakeCannotInjectFrames(t *testing.T) {
	job := &wire.Job{ID: 1, Key: 1, Source: []byte("evil"), Args: []byte("x")}
	sealedUnder := func(key []byte) []byte {
		var out bytes.Buffer
		c := wire.NewConn(&recordConn{w: &out})
		c.SetMaxFrame(wire.DefaultMaxFrame)
		if err := c.Seal(key, key); err != nil {
			t.Fatal(err)
		}
		if err := send(c, job); err != nil {
			t.Fatal(err)
		}
		return out.Bytes()
	}
	forgeries := map[string][]byte{
		"a frame sealed under a key of its own": sealedUnder(random(wire.KeySize)),
		"a frame in clear":                      frames(t, job),
	}
	for _, tr := range transports {
		for name, forged := range forgeries {
			t.Run(tr.Name+"/"+name, func(t *testing.T) {
				c, s, r := newRelay(t, tr)
				client := goClientConn(c, secret)
				srv := await(t, "server", goServerConn(s, secret, offer))
				if cl := await(t, "client", client); srv.err != nil || cl.err != nil {
					t.Fatalf("server: %v, client: %v", srv.err, cl.err)
				}
				go r.inject(forged) // net.Pipe: written as the server reads
				srv.conn.SetMaxFrame(wire.DefaultMaxFrame)
				srv.conn.SetDeadline(time.Now().Add(guard))
				if m, err := srv.conn.Read(); !errors.Is(err, wire.ErrMalformed) {
					t.Fatalf("server read an injected frame: %+v, %v; want ErrMalformed", m, err)
				}
			})
		}
	}
}
