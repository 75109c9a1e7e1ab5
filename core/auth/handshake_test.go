package auth_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/ppgo/ppgo/core/auth"
	"github.com/ppgo/ppgo/core/wire"
)

var offer = auth.Offer{Workers: 8, Credits: 16}

// exchangeSealed sends a Job from the client's end and a Result from the
// server's, each read by the other: the ends agree on the session keys and
// each seals the direction the other opens.
func exchangeSealed(t *testing.T, client, server *wire.Conn) {
	t.Helper()
	for _, c := range []*wire.Conn{client, server} {
		c.SetMaxFrame(wire.DefaultMaxFrame)
	}
	job := &wire.Job{ID: 1, Key: 2, Source: []byte("def f(x): return x"), Args: []byte("args")}
	result := &wire.Result{ID: 1, Data: []byte("data"), ElapsedNS: 5}
	for _, step := range []struct {
		from, to *wire.Conn
		m        wire.Message
	}{{client, server, job}, {server, client, result}} {
		errs := make(chan error, 1)
		go func() { errs <- send(step.from, step.m) }()
		got, err := step.to.Read()
		if err != nil || !reflect.DeepEqual(got, step.m) {
			t.Fatalf("sent %+v, read %+v, %v", step.m, got, err)
		}
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestHandshake(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.Name, func(t *testing.T) {
			a, b := tr.Pair(t)
			cd, sd := &deadlineConn{Conn: a}, &deadlineConn{Conn: b}
			client := goClientConn(cd, secret)
			s := await(t, "server", goServerConn(sd, secret, offer))
			c := await(t, "client", client)
			if s.err != nil || c.err != nil {
				t.Fatalf("server: %v, client: %v", s.err, c.err)
			}
			if c.offer != offer {
				t.Errorf("client got offer %+v, want %+v", c.offer, offer)
			}
			// Both ends leave the connection without a deadline, for the
			// session's own.
			for side, d := range map[string]*deadlineConn{"client": cd, "server": sd} {
				calls := d.deadlines()
				if len(calls) < 2 || calls[0].IsZero() || !calls[len(calls)-1].IsZero() {
					t.Errorf("%s deadlines %v: want one set, then cleared", side, calls)
				}
			}
			exchangeSealed(t, c.conn, s.conn)
		})
	}
}

func TestWrongSecret(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.Name, func(t *testing.T) {
			a, b := tr.Pair(t)
			client := goClient(a, "another secret", guard)
			serr := await(t, "server", goServer(b, secret, offer, guard))
			c := await(t, "client", client)
			if !errors.Is(serr, auth.ErrWrongSecret) {
				t.Errorf("server: %v, want ErrWrongSecret", serr)
			}
			if !errors.Is(c.err, auth.ErrWrongSecret) || c.offer != (auth.Offer{}) {
				t.Errorf("client: %+v, %v; want ErrWrongSecret", c.offer, c.err)
			}
		})
	}
}

// TestSpecHandshake: a client and a server written from SPEC.md alone
// complete the handshake with the real ones and then speak on the sealed
// connection, so the key schedule is the one the spec describes.
func TestSpecHandshake(t *testing.T) {
	t.Run("spec client, real server", func(t *testing.T) {
		a, b := pipePair(t)
		server := goServerConn(b, secret, offer)
		c := wire.NewConn(a)
		m, err := c.Read()
		if err != nil {
			t.Fatal(err)
		}
		h := m.(*wire.Hello)
		if m, err = c.Read(); err != nil {
			t.Fatal(err)
		}
		salt := m.(*wire.Salt).Salt
		if h.Version != wire.Version || len(h.Share) != wire.ShareSize || len(salt) != wire.SaltSize {
			t.Fatalf("Hello %+v, salt % x", h, salt)
		}
		priv := share(t)
		mine := priv.PublicKey().Bytes()
		keys := specSchedule(secret, salt, h.Share, mine, x25519(t, priv, h.Share))
		if err := send(c, &wire.Auth{Version: wire.Version, Share: mine, Proof: keys.clientProof}); err != nil {
			t.Fatal(err)
		}
		m, err = c.Read()
		if err != nil {
			t.Fatal(err)
		}
		w, ok := m.(*wire.Welcome)
		if !ok {
			t.Fatalf("got %+v, want Welcome", m)
		}
		if !bytes.Equal(w.Proof, keys.proof(offer.Workers, offer.Credits)) || w.Workers != offer.Workers || w.Credits != offer.Credits {
			t.Errorf("Welcome %+v does not match the spec", w)
		}
		s := await(t, "server", server)
		if s.err != nil {
			t.Fatalf("server: %v", s.err)
		}
		if err := c.Seal(keys.c2s, keys.s2c); err != nil {
			t.Fatal(err)
		}
		exchangeSealed(t, c, s.conn)
	})
	t.Run("real client, spec server", func(t *testing.T) {
		a, b := pipePair(t)
		client := goClientConn(a, secret)
		c := wire.NewConn(b)
		srv := &specServer{}
		if err := srv.open(t, c); err != nil {
			t.Fatal(err)
		}
		if err := srv.readAuth(c); err != nil {
			t.Fatal(err)
		}
		keys := srv.keys(t, secret)
		if srv.auth.Version != wire.Version || !bytes.Equal(srv.auth.Proof, keys.clientProof) {
			t.Fatalf("Auth %+v does not match the spec", srv.auth)
		}
		if err := send(c, &wire.Welcome{Proof: keys.proof(3, 5), Workers: 3, Credits: 5}); err != nil {
			t.Fatal(err)
		}
		r := await(t, "client", client)
		if r.err != nil || r.offer != (auth.Offer{Workers: 3, Credits: 5}) {
			t.Fatalf("client: %+v, %v", r.offer, r.err)
		}
		if err := c.Seal(keys.s2c, keys.c2s); err != nil {
			t.Fatal(err)
		}
		exchangeSealed(t, r.conn, c)
	})
}

// TestClientRejectsImpostor: a server that does not know the secret can
// answer the client's Auth with anything; the client trusts none of it.
// Nor can a server on the path change what a real one offers.
func TestClientRejectsImpostor(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer func(t *testing.T, s *specServer) wire.Message
		want   error
	}{
		{"bogus proof", func(*testing.T, *specServer) wire.Message {
			return &wire.Welcome{Proof: random(32), Workers: 1, Credits: 1}
		}, auth.ErrWrongSecret},
		{"no proof", func(*testing.T, *specServer) wire.Message {
			return &wire.Welcome{Workers: 1, Credits: 1}
		}, auth.ErrWrongSecret},
		{"reflection: the client's own proof", func(_ *testing.T, s *specServer) wire.Message {
			return &wire.Welcome{Proof: s.auth.Proof, Workers: 1, Credits: 1}
		}, auth.ErrWrongSecret},
		{"proof under another secret", func(t *testing.T, s *specServer) wire.Message {
			return &wire.Welcome{Proof: s.keys(t, "a guess").proof(1, 1), Workers: 1, Credits: 1}
		}, auth.ErrWrongSecret},
		{"the client proof's key as the server's", func(t *testing.T, s *specServer) wire.Message {
			k := s.keys(t, secret)
			k.serverProofKey = k.clientProof
			return &wire.Welcome{Proof: k.proof(1, 1), Workers: 1, Credits: 1}
		}, auth.ErrWrongSecret},
		{"proof of another offer", func(t *testing.T, s *specServer) wire.Message {
			return &wire.Welcome{Proof: s.keys(t, secret).proof(1, 1), Workers: 1, Credits: 1000}
		}, auth.ErrWrongSecret},
		{"a result instead of Welcome", func(*testing.T, *specServer) wire.Message {
			return &wire.Result{ID: 1, Data: []byte("cos\nsystem\n(S'echo pwned'\ntR.")}
		}, auth.ErrProtocol},
		{"a job instead of Welcome", func(*testing.T, *specServer) wire.Message {
			return &wire.Job{ID: 1, Key: 1, Source: []byte("x"), Args: []byte("y")}
		}, auth.ErrProtocol},
		{"a second Hello", func(*testing.T, *specServer) wire.Message {
			return &wire.Hello{Version: wire.Version, Share: random(32)}
		}, auth.ErrProtocol},
		{"a negative offer, proven", func(t *testing.T, s *specServer) wire.Message {
			return &wire.Welcome{Proof: s.keys(t, secret).proof(1, -1), Workers: 1, Credits: -1}
		}, auth.ErrProtocol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := pipePair(t)
			client := goClient(a, secret, guard)
			srv := &specServer{}
			peer := goPeer(b, func(c *wire.Conn) error {
				if err := srv.open(t, c); err != nil {
					return err
				}
				if err := srv.readAuth(c); err != nil {
					return err
				}
				return send(c, tc.answer(t, srv))
			})
			got := await(t, "client", client)
			if !errors.Is(got.err, tc.want) || got.offer != (auth.Offer{}) {
				t.Errorf("client: %+v, %v; want %v", got.offer, got.err, tc.want)
			}
			if err := await(t, "impostor", peer); err != nil {
				t.Errorf("impostor: %v", err)
			}
		})
	}
}

// TestClientSendsNoProofToABadFirstFlight: a server whose share or salt
// is unusable gets no Auth at all: a proof is something an impostor could
// test guesses against, so the client sends one only into a handshake it
// can finish.
func TestClientSendsNoProofToABadFirstFlight(t *testing.T) {
	for _, tc := range []struct {
		name        string
		share, salt []byte
	}{
		{"an all-zero share (a low-order point)", make([]byte, 32), random(wire.SaltSize)},
		{"a share of order 8", unhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"), random(wire.SaltSize)},
		{"the point 1 (order 1)", unhex("0100000000000000000000000000000000000000000000000000000000000000"), random(wire.SaltSize)},
		{"a short share", random(31), random(wire.SaltSize)},
		{"a long share", random(33), random(wire.SaltSize)},
		{"no share", nil, random(wire.SaltSize)},
		{"a short salt", random(32), random(wire.SaltSize - 1)},
		{"no salt", random(32), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := pipePair(t)
			client := goClient(a, secret, guard)
			peer := goPeer(b, func(c *wire.Conn) error {
				if err := c.Write(&wire.Hello{Version: wire.Version, Share: tc.share}); err != nil {
					return err
				}
				if err := send(c, &wire.Salt{Salt: tc.salt}); err != nil {
					return err
				}
				if m, err := c.Read(); !errors.Is(err, io.EOF) {
					t.Errorf("the client answered with %+v, %v", m, err)
				}
				return nil
			})
			got := await(t, "client", client)
			if !errors.Is(got.err, auth.ErrProtocol) {
				t.Errorf("client: %v, want ErrProtocol", got.err)
			}
			a.Close()
			await(t, "fake server", peer)
		})
	}
}

// TestServerRejectsReplay: a good client's Auth, recorded from one session,
// does not open another: the new session's share differs.
func TestServerRejectsReplay(t *testing.T) {
	a, b := pipePair(t)
	tap := &tapConn{Conn: a}
	client := goClient(tap, secret, guard)
	if err := await(t, "server", goServer(b, secret, offer, guard)); err != nil {
		t.Fatal(err)
	}
	if c := await(t, "client", client); c.err != nil {
		t.Fatal(c.err)
	}
	recorded := tap.bytes() // the client wrote only its Auth

	a, b = pipePair(t)
	server := goServer(b, secret, offer, guard)
	peer := await(t, "replayer", goPeer(a, func(c *wire.Conn) error {
		for range 2 { // the fresh Hello and the Salt
			if _, err := c.Read(); err != nil {
				return err
			}
		}
		if _, err := a.Write(recorded); err != nil {
			return err
		}
		m, err := c.Read()
		if err != nil {
			return err
		}
		if r, ok := m.(*wire.Refused); !ok || r.Reason != auth.ReasonWrongSecret {
			t.Errorf("server answered a replay with %+v, want Refused{%q}", m, auth.ReasonWrongSecret)
		}
		return nil
	}))
	if serr := await(t, "server", server); !errors.Is(serr, auth.ErrWrongSecret) || peer != nil {
		t.Fatalf("server: %v, want ErrWrongSecret (replayer: %v)", serr, peer)
	}
}

// TestVersionMismatch: each end of a mismatch says which versions met.
func TestVersionMismatch(t *testing.T) {
	t.Run("a client of an earlier version", func(t *testing.T) {
		// It reads the Hello, sees a version it does not speak, and hangs
		// up without a word, as ppgo's version 1 client does.
		a, b := pipePair(t)
		server := goServer(b, secret, offer, guard)
		peer := goPeer(a, func(c *wire.Conn) error {
			m, err := c.Read()
			if h, ok := m.(*wire.Hello); err != nil || !ok || h.Version != wire.Version {
				t.Errorf("the first frame is %+v, %v; want a Hello of version %d", m, err, wire.Version)
			}
			return a.Close()
		})
		serr := await(t, "server", server)
		if !errors.Is(serr, auth.ErrProtocol) || !strings.Contains(serr.Error(), "hung up") ||
			!strings.Contains(serr.Error(), fmt.Sprintf("ppgo wire version %d", wire.Version)) {
			t.Errorf("server: %v, want ErrProtocol: the client hung up, this is version %d", serr, wire.Version)
		}
		await(t, "client", peer)
	})
	t.Run("a client of a later version", func(t *testing.T) {
		want := fmt.Sprintf("client speaks ppgo wire version %d, this ppserver speaks %d", wire.Version+1, wire.Version)
		a, b := pipePair(t)
		server := goServer(b, secret, offer, guard)
		peer := await(t, "client", goPeer(a, func(c *wire.Conn) error {
			for range 2 {
				if _, err := c.Read(); err != nil {
					return err
				}
			}
			// A later version's Auth may have another shape: only its
			// version is read.
			if _, err := a.Write([]byte{0, 0, 0, 4, byte(wire.TypeAuth), 0x92, wire.Version + 1, 0x90}); err != nil {
				return err
			}
			m, err := c.Read()
			if err != nil {
				return err
			}
			if r, ok := m.(*wire.Refused); !ok || r.Reason != want {
				t.Errorf("got %+v, want Refused{%q}", m, want)
			}
			return nil
		}))
		serr := await(t, "server", server)
		if !errors.Is(serr, auth.ErrProtocol) || !errors.Is(serr, wire.ErrVersion) || peer != nil ||
			!strings.Contains(serr.Error(), want) {
			t.Fatalf("server: %v, want ErrProtocol and ErrVersion naming both (client: %v)", serr, peer)
		}
	})
	t.Run("a version 1 server", func(t *testing.T) {
		// Version 1's Hello has the shape of later ones: [1, 32-byte nonce].
		// The client answers with an Auth version 1 reads far enough to
		// refuse it by its version, [Version, 32 bytes, no proof], and
		// hangs up.
		a, b := pipePair(t)
		client := goClient(a, secret, guard)
		peer := goPeer(b, func(c *wire.Conn) error {
			if err := send(c, &wire.Hello{Version: 1, Share: random(32)}); err != nil {
				return err
			}
			m, err := c.Read()
			if err != nil {
				return err
			}
			if au, ok := m.(*wire.Auth); !ok || au.Version != wire.Version || len(au.Share) != 32 || len(au.Proof) != 0 {
				t.Errorf("the client answered a version 1 Hello with %+v", m)
			}
			// What version 1's server says; the client is gone by now.
			_ = send(c, &wire.Refused{Reason: fmt.Sprintf("protocol version %d is not supported (this server speaks 1)", wire.Version)})
			return nil
		})
		got := await(t, "client", client)
		want := fmt.Sprintf("ppserver speaks ppgo wire version 1, this client speaks %d", wire.Version)
		if !errors.Is(got.err, auth.ErrProtocol) || !errors.Is(got.err, wire.ErrVersion) || !strings.Contains(got.err.Error(), want) {
			t.Errorf("client: %v, want ErrProtocol and ErrVersion saying %q", got.err, want)
		}
		a.Close()
		if err := await(t, "server", peer); err != nil {
			t.Error(err)
		}
	})
	t.Run("client told why", func(t *testing.T) {
		const reason = "client speaks ppgo wire version 2, this ppserver speaks 3"
		a, b := pipePair(t)
		client := goClient(a, secret, guard)
		peer := goPeer(b, func(c *wire.Conn) error {
			srv := &specServer{}
			if err := srv.open(t, c); err != nil {
				return err
			}
			if _, err := c.Read(); err != nil {
				return err
			}
			return send(c, &wire.Refused{Reason: reason})
		})
		got := await(t, "client", client)
		if !errors.Is(got.err, auth.ErrRefused) || !strings.Contains(got.err.Error(), reason) {
			t.Errorf("client: %v, want ErrRefused with the reason", got.err)
		}
		if err := await(t, "server", peer); err != nil {
			t.Error(err)
		}
	})
}

// TestLegacyPeers: legacy Parallel Python frames messages with an 8-byte
// length and opens with its version string, server first; neither end of
// ppgo mistakes it for a ppgo peer, and each says what it probably met.
func TestLegacyPeers(t *testing.T) {
	t.Run("a legacy ppserver", func(t *testing.T) {
		a, b := pipePair(t)
		client := goClient(a, secret, guard)
		go b.Write(append([]byte{0, 0, 0, 0, 0, 0, 0, 5}, "1.7.0"...))
		got := await(t, "client", client)
		if !errors.Is(got.err, auth.ErrProtocol) || !strings.Contains(got.err.Error(), "legacy Parallel Python") {
			t.Errorf("client: %v, want ErrProtocol naming legacy Parallel Python", got.err)
		}
	})
	for _, tr := range transports {
		t.Run("a legacy client/"+tr.Name, func(t *testing.T) {
			// It reads 8 bytes as the length of a version string, finds it
			// absurd (or runs out of memory trying), and hangs up.
			a, b := tr.Pair(t)
			server := goServer(b, secret, offer, guard)
			var length [8]byte
			if _, err := io.ReadFull(a, length[:]); err != nil {
				t.Fatal(err)
			}
			a.Close()
			serr := await(t, "server", server)
			if !errors.Is(serr, auth.ErrProtocol) || !strings.Contains(serr.Error(), "legacy Parallel Python") {
				t.Errorf("server: %v, want ErrProtocol naming legacy Parallel Python", serr)
			}
		})
	}
}

// TestMalformedChallenge: shares of the wrong size and messages out of
// order end the handshake as protocol errors.
func TestMalformedChallenge(t *testing.T) {
	server := []struct {
		name string
		auth wire.Message
	}{
		{"short client share", &wire.Auth{Version: wire.Version, Share: make([]byte, 16), Proof: make([]byte, 32)}},
		{"all-zero client share", &wire.Auth{Version: wire.Version, Share: make([]byte, 32), Proof: make([]byte, 32)}},
		{"no client share", &wire.Auth{Version: wire.Version}},
		{"a job instead of Auth", &wire.Job{ID: 1, Key: 1, Source: []byte("src"), Args: []byte("args")}},
		{"Hello instead of Auth", &wire.Hello{Version: wire.Version, Share: random(32)}},
		{"Salt instead of Auth", &wire.Salt{Salt: random(16)}},
	}
	for _, tc := range server {
		t.Run("server/"+tc.name, func(t *testing.T) {
			a, b := pipePair(t)
			srv := goServer(b, secret, offer, guard)
			go io.Copy(io.Discard, a)
			if _, err := a.Write(frames(t, tc.auth)); err != nil {
				t.Fatal(err)
			}
			if err := await(t, "server", srv); !errors.Is(err, auth.ErrProtocol) {
				t.Errorf("server: %v, want ErrProtocol", err)
			}
		})
	}
	hello := &wire.Hello{Version: wire.Version, Share: random(32)}
	client := []struct {
		name  string
		first []wire.Message
	}{
		{"Welcome before Hello", []wire.Message{&wire.Welcome{Proof: random(32), Workers: 1, Credits: 1}}},
		{"Refused before Hello", []wire.Message{&wire.Refused{Reason: "busy"}}},
		{"Salt before Hello", []wire.Message{&wire.Salt{Salt: random(16)}, hello}},
		{"Welcome instead of Salt", []wire.Message{hello, &wire.Welcome{Proof: random(32), Workers: 1, Credits: 1}}},
		{"two Hellos", []wire.Message{hello, hello}},
	}
	for _, tc := range client {
		t.Run("client/"+tc.name, func(t *testing.T) {
			a, b := pipePair(t)
			cl := goClient(a, secret, guard)
			go io.Copy(io.Discard, b)
			if _, err := b.Write(frames(t, tc.first...)); err != nil {
				t.Fatal(err)
			}
			if got := await(t, "client", cl); !errors.Is(got.err, auth.ErrProtocol) {
				t.Errorf("client: %v, want ErrProtocol", got.err)
			}
		})
	}
}

// BenchmarkHandshake is one whole handshake over TCP on loopback, both
// ends in this process, with the secret already stretched (as for every
// connection after a process's first to a given ppserver).
func BenchmarkHandshake(b *testing.B) {
	auth.PrepareServer([]byte(secret))
	for b.Loop() {
		b.StopTimer()
		c, s := tcpPairB(b)
		b.StartTimer()
		client := goClient(c, secret, guard)
		if err := <-goServer(s, secret, offer, guard); err != nil {
			b.Fatal(err)
		}
		if r := <-client; r.err != nil {
			b.Fatal(r.err)
		}
		b.StopTimer()
		c.Close()
		s.Close()
		b.StartTimer()
	}
}
