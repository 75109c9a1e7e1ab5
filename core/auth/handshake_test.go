package auth_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/ppgo/ppgo/core/auth"
	"github.com/ppgo/ppgo/core/wire"
)

var offer = auth.Offer{Workers: 8, Credits: 16}

func TestHandshake(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.Name, func(t *testing.T) {
			a, b := tr.Pair(t)
			cd, sd := &deadlineConn{Conn: a}, &deadlineConn{Conn: b}
			client := goClient(cd, secret, guard)
			serr := await(t, "server", goServer(sd, secret, offer, guard))
			c := await(t, "client", client)
			if serr != nil || c.err != nil {
				t.Fatalf("server: %v, client: %v", serr, c.err)
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

// TestSpecProofs: a client and a server written from SPEC.md alone
// complete the handshake with the real ones.
func TestSpecProofs(t *testing.T) {
	t.Run("spec client, real server", func(t *testing.T) {
		a, b := pipePair(t)
		server := goServer(b, secret, offer, guard)
		peer := await(t, "spec client", goPeer(a, func(c *wire.Conn) error {
			m, err := c.Read()
			if err != nil {
				return err
			}
			h := m.(*wire.Hello)
			if h.Version != wire.Version || len(h.Nonce) != wire.NonceSize {
				t.Errorf("Hello %+v", h)
			}
			cn := nonce()
			if err := send(c, &wire.Auth{Version: wire.Version, Nonce: cn, Proof: specProof(secret, clientLabel, h.Nonce, cn)}); err != nil {
				return err
			}
			m, err = c.Read()
			if err != nil {
				return err
			}
			w, ok := m.(*wire.Welcome)
			if !ok {
				t.Fatalf("got %+v, want Welcome", m)
			}
			if !bytes.Equal(w.Proof, specProof(secret, serverLabel, h.Nonce, cn)) || w.Workers != offer.Workers || w.Credits != offer.Credits {
				t.Errorf("Welcome %+v does not match the spec", w)
			}
			return nil
		}))
		if serr := await(t, "server", server); serr != nil || peer != nil {
			t.Fatalf("server: %v, spec client: %v", serr, peer)
		}
	})
	t.Run("real client, spec server", func(t *testing.T) {
		a, b := pipePair(t)
		client := goClient(a, secret, guard)
		peer := await(t, "spec server", goPeer(b, func(c *wire.Conn) error {
			sn := nonce()
			if err := send(c, &wire.Hello{Version: wire.Version, Nonce: sn}); err != nil {
				return err
			}
			m, err := c.Read()
			if err != nil {
				return err
			}
			au := m.(*wire.Auth)
			if !bytes.Equal(au.Proof, specProof(secret, clientLabel, sn, au.Nonce)) {
				t.Errorf("client proof does not match the spec")
			}
			return send(c, &wire.Welcome{Proof: specProof(secret, serverLabel, sn, au.Nonce), Workers: 3, Credits: 5})
		}))
		c := await(t, "client", client)
		if peer != nil || c.err != nil || c.offer != (auth.Offer{Workers: 3, Credits: 5}) {
			t.Fatalf("spec server: %v; client: %+v, %v", peer, c.offer, c.err)
		}
	})
}

// TestClientRejectsImpostor: a server that does not know the secret can
// answer the client's Auth with anything; the client trusts none of it.
func TestClientRejectsImpostor(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer func(serverNonce []byte, a *wire.Auth) wire.Message
		want   error
	}{
		{"bogus proof", func(_ []byte, _ *wire.Auth) wire.Message {
			return &wire.Welcome{Proof: nonce(), Workers: 1, Credits: 1}
		}, auth.ErrWrongSecret},
		{"no proof", func(_ []byte, _ *wire.Auth) wire.Message {
			return &wire.Welcome{Workers: 1, Credits: 1}
		}, auth.ErrWrongSecret},
		{"reflection: the client's own proof", func(_ []byte, a *wire.Auth) wire.Message {
			return &wire.Welcome{Proof: a.Proof, Workers: 1, Credits: 1}
		}, auth.ErrWrongSecret},
		{"proof under another secret", func(sn []byte, a *wire.Auth) wire.Message {
			return &wire.Welcome{Proof: specProof("guess", serverLabel, sn, a.Nonce), Workers: 1, Credits: 1}
		}, auth.ErrWrongSecret},
		{"proof over other nonces", func(sn []byte, a *wire.Auth) wire.Message {
			return &wire.Welcome{Proof: specProof(secret, serverLabel, a.Nonce, sn), Workers: 1, Credits: 1}
		}, auth.ErrWrongSecret},
		{"a result instead of Welcome", func(_ []byte, _ *wire.Auth) wire.Message {
			return &wire.Result{ID: 1, Data: []byte("cos\nsystem\n(S'echo pwned'\ntR.")}
		}, auth.ErrProtocol},
		{"a job instead of Welcome", func(_ []byte, _ *wire.Auth) wire.Message {
			return &wire.Job{ID: 1, Key: 1, Source: []byte("x"), Args: []byte("y")}
		}, auth.ErrProtocol},
		{"a second Hello", func(sn []byte, _ *wire.Auth) wire.Message {
			return &wire.Hello{Version: wire.Version, Nonce: sn}
		}, auth.ErrProtocol},
		{"a negative offer, proven", func(sn []byte, a *wire.Auth) wire.Message {
			return &wire.Welcome{Proof: specProof(secret, serverLabel, sn, a.Nonce), Workers: 1, Credits: -1}
		}, auth.ErrProtocol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := pipePair(t)
			client := goClient(a, secret, guard)
			peer := goPeer(b, func(c *wire.Conn) error {
				sn := nonce()
				if err := send(c, &wire.Hello{Version: wire.Version, Nonce: sn}); err != nil {
					return err
				}
				m, err := c.Read()
				if err != nil {
					return err
				}
				return send(c, tc.answer(sn, m.(*wire.Auth)))
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

// TestServerRejectsReplay: a good client's Auth, recorded from one session,
// does not open another: the new session's nonce differs.
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
		if _, err := c.Read(); err != nil { // the fresh Hello
			return err
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

func TestVersionMismatch(t *testing.T) {
	t.Run("client speaks another version", func(t *testing.T) {
		a, b := pipePair(t)
		server := goServer(b, secret, offer, guard)
		peer := await(t, "client", goPeer(a, func(c *wire.Conn) error {
			m, err := c.Read()
			if err != nil {
				return err
			}
			sn, cn := m.(*wire.Hello).Nonce, nonce()
			// A correct proof: only the version is wrong.
			if err := send(c, &wire.Auth{Version: wire.Version + 1, Nonce: cn, Proof: specProof(secret, clientLabel, sn, cn)}); err != nil {
				return err
			}
			m, err = c.Read()
			if err != nil {
				return err
			}
			if r, ok := m.(*wire.Refused); !ok || !strings.Contains(r.Reason, "version") {
				t.Errorf("got %+v, want Refused with a reason about the version", m)
			}
			return nil
		}))
		if serr := await(t, "server", server); !errors.Is(serr, auth.ErrProtocol) || peer != nil {
			t.Fatalf("server: %v, want ErrProtocol (client: %v)", serr, peer)
		}
	})
	t.Run("server speaks another version", func(t *testing.T) {
		a, b := pipePair(t)
		client := goClient(a, secret, guard)
		peer := goPeer(b, func(c *wire.Conn) error {
			if err := send(c, &wire.Hello{Version: wire.Version + 1, Nonce: nonce()}); err != nil {
				return err
			}
			// The client answers nothing; its end closes below.
			m, err := c.Read()
			if !errors.Is(err, io.EOF) {
				t.Errorf("the client answered a Hello of another version with %+v, %v", m, err)
			}
			return nil
		})
		got := await(t, "client", client)
		if !errors.Is(got.err, auth.ErrProtocol) || !strings.Contains(got.err.Error(), "version") {
			t.Errorf("client: %v, want ErrProtocol about the version", got.err)
		}
		a.Close()
		if err := await(t, "server", peer); err != nil {
			t.Error(err)
		}
	})
	t.Run("client told why", func(t *testing.T) {
		const reason = "protocol version 1 is not supported (this server speaks 2)"
		a, b := pipePair(t)
		client := goClient(a, secret, guard)
		peer := goPeer(b, func(c *wire.Conn) error {
			if err := send(c, &wire.Hello{Version: wire.Version, Nonce: nonce()}); err != nil {
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

// TestMalformedChallenge: nonces of the wrong size and messages out of
// order end the handshake as protocol errors.
func TestMalformedChallenge(t *testing.T) {
	server := []struct {
		name string
		auth wire.Message
	}{
		{"short client nonce", &wire.Auth{Version: wire.Version, Nonce: make([]byte, 16), Proof: make([]byte, 32)}},
		{"no client nonce", &wire.Auth{Version: wire.Version}},
		{"a job instead of Auth", &wire.Job{ID: 1, Key: 1, Source: []byte("src"), Args: []byte("args")}},
		{"Hello instead of Auth", &wire.Hello{Version: wire.Version, Nonce: nonce()}},
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
	client := []struct {
		name  string
		hello wire.Message
	}{
		{"short server nonce", &wire.Hello{Version: wire.Version, Nonce: make([]byte, 31)}},
		{"long server nonce", &wire.Hello{Version: wire.Version, Nonce: make([]byte, 33)}},
		{"Welcome before Hello", &wire.Welcome{Proof: nonce(), Workers: 1, Credits: 1}},
		{"Refused before Hello", &wire.Refused{Reason: "busy"}},
	}
	for _, tc := range client {
		t.Run("client/"+tc.name, func(t *testing.T) {
			a, b := pipePair(t)
			cl := goClient(a, secret, guard)
			go io.Copy(io.Discard, b)
			if _, err := b.Write(frames(t, tc.hello)); err != nil {
				t.Fatal(err)
			}
			if got := await(t, "client", cl); !errors.Is(got.err, auth.ErrProtocol) {
				t.Errorf("client: %v, want ErrProtocol", got.err)
			}
		})
	}
}
