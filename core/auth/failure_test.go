package auth_test

import (
	"bytes"
	"errors"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/ppgo/ppgo/core/auth"
	"github.com/ppgo/ppgo/core/wire"
)

// TestTruncatedHandshake: a peer that goes away at any point of the
// handshake makes it fail at once, not hang.
func TestTruncatedHandshake(t *testing.T) {
	hello := frames(t, &wire.Hello{Version: wire.Version, Share: random(32)}, &wire.Salt{Salt: random(16)})
	auth1 := frames(t, &wire.Auth{Version: wire.Version, Share: random(32), Proof: random(32)})
	// Each script plays the peer, then closes its end.
	fakeServers := []struct {
		name   string
		script func(c *wire.Conn, nc net.Conn) error
	}{
		{"at once", func(*wire.Conn, net.Conn) error { return nil }},
		{"mid-Hello", func(_ *wire.Conn, nc net.Conn) error {
			_, err := nc.Write(hello[:len(hello)/2])
			return err
		}},
		{"after Hello", func(_ *wire.Conn, nc net.Conn) error {
			_, err := nc.Write(hello[:len(hello)-len(frames(t, &wire.Salt{Salt: random(16)}))])
			return err
		}},
		{"after Salt", func(_ *wire.Conn, nc net.Conn) error {
			_, err := nc.Write(hello)
			return err
		}},
		{"after reading Auth", func(c *wire.Conn, nc net.Conn) error {
			if _, err := nc.Write(hello); err != nil {
				return err
			}
			_, err := c.Read()
			return err
		}},
		{"mid-Welcome", func(c *wire.Conn, nc net.Conn) error {
			if _, err := nc.Write(hello); err != nil {
				return err
			}
			if _, err := c.Read(); err != nil {
				return err
			}
			_, err := nc.Write([]byte{0, 0, 0, 40, byte(wire.TypeWelcome), 0x93})
			return err
		}},
	}
	fakeClients := []struct {
		name   string
		script func(c *wire.Conn, nc net.Conn) error
	}{
		{"at once", func(*wire.Conn, net.Conn) error { return nil }},
		{"after reading Hello", func(c *wire.Conn, _ net.Conn) error {
			_, err := c.Read()
			return err
		}},
		{"after reading Salt", func(c *wire.Conn, _ net.Conn) error {
			for range 2 {
				if _, err := c.Read(); err != nil {
					return err
				}
			}
			return nil
		}},
		{"mid-Auth", func(c *wire.Conn, nc net.Conn) error {
			for range 2 {
				if _, err := c.Read(); err != nil {
					return err
				}
			}
			_, err := nc.Write(auth1[:len(auth1)-10])
			return err
		}},
	}
	for _, tr := range transports {
		for _, tc := range fakeServers {
			t.Run(tr.Name+"/server closes "+tc.name, func(t *testing.T) {
				a, b := tr.Pair(t)
				client := goClient(a, secret, guard)
				peer := goPeer(b, func(c *wire.Conn) error {
					defer b.Close()
					return tc.script(c, b)
				})
				if got := await(t, "client", client); got.err == nil {
					t.Errorf("client succeeded with %+v", got.offer)
				}
				await(t, "fake server", peer) // its own errors are expected
			})
		}
		for _, tc := range fakeClients {
			t.Run(tr.Name+"/client closes "+tc.name, func(t *testing.T) {
				a, b := tr.Pair(t)
				server := goServer(b, secret, offer, guard)
				peer := goPeer(a, func(c *wire.Conn) error {
					defer a.Close()
					return tc.script(c, a)
				})
				if err := await(t, "server", server); err == nil {
					t.Error("server succeeded")
				}
				await(t, "fake client", peer)
			})
		}
	}
}

// TestHandshakeTimeout: a peer that never answers costs the handshake's
// timeout, and the error says it timed out.
func TestHandshakeTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	for _, tr := range transports {
		for _, side := range []string{"client", "server"} {
			t.Run(tr.Name+"/"+side, func(t *testing.T) {
				t.Parallel()
				a, b := tr.Pair(t) // b stays silent, and on a pipe never reads
				start := time.Now()
				var err error
				if side == "client" {
					err = await(t, "client", goClient(a, secret, timeout)).err
				} else {
					err = await(t, "server", goServer(a, secret, offer, timeout))
				}
				elapsed := time.Since(start)
				var ne net.Error
				if !errors.As(err, &ne) || !ne.Timeout() {
					t.Errorf("%s: %v, want a net.Error that timed out", side, err)
				}
				if elapsed < timeout || elapsed > timeout+2*time.Second {
					t.Errorf("%s gave up after %v, timeout %v", side, elapsed, timeout)
				}
				_ = b
			})
		}
	}
}

// TestOversizedHandshakeFrame: before the handshake a peer may announce no
// more than wire.HandshakeMaxFrame.
func TestOversizedHandshakeFrame(t *testing.T) {
	huge := []byte{0, 0x10, 0, 0} // 1 MiB
	t.Run("from the server", func(t *testing.T) {
		a, b := pipePair(t)
		client := goClient(a, secret, guard)
		go b.Write(append(huge, byte(wire.TypeHello), 0x92, 0x01, 0xc6, 0, 0x0f, 0xff, 0xf7))
		if got := await(t, "client", client); !errors.Is(got.err, wire.ErrFrameTooLarge) {
			t.Errorf("client: %v, want ErrFrameTooLarge", got.err)
		}
	})
	t.Run("from the client", func(t *testing.T) {
		a, b := pipePair(t)
		server := goServer(b, secret, offer, guard)
		peer := goPeer(a, func(c *wire.Conn) error {
			if _, err := c.Read(); err != nil {
				return err
			}
			_, err := a.Write(append(huge, byte(wire.TypeAuth)))
			return err
		})
		if err := await(t, "server", server); !errors.Is(err, wire.ErrFrameTooLarge) {
			t.Errorf("server: %v, want ErrFrameTooLarge", err)
		}
		await(t, "fake client", peer)
	})
}

// TestUnauthenticatedPeerCannotMakeServerAllocate: a frame within the
// handshake limit whose binary announces a large length must not make the
// server allocate it (the announcement here is 64 MiB; the 4 GiB a bin32
// can announce would take a ppserver down).
func TestUnauthenticatedPeerCannotMakeServerAllocate(t *testing.T) {
	body := []byte{0x93, wire.Version, 0xc6, 0x04, 0x00, 0x00, 0x00} // [Version, bin32 of 64 MiB ...
	in := append([]byte{0, 0, 0, byte(len(body) + 1), byte(wire.TypeAuth)}, body...)
	c := wire.NewConn(&streamConn{in: bytes.NewReader(in)})
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.TotalAlloc
	err := auth.Server(c, []byte(secret), offer, guard)
	runtime.ReadMemStats(&ms)
	if n := ms.TotalAlloc - before; n > 1<<20 {
		t.Errorf("a %d-byte frame made the server allocate %d bytes before authentication", len(in), n)
	}
	if !errors.Is(err, wire.ErrMalformed) {
		t.Errorf("server: %v, want ErrMalformed", err)
	}
}
