package auth_test

import (
	"bytes"
	"testing"

	"github.com/ppgo/ppgo/core/auth"
	"github.com/ppgo/ppgo/core/wire"
)

// FuzzServer plays arbitrary bytes as the client: the server must neither
// panic nor accept a client that cannot know the proof for its fresh share.
func FuzzServer(f *testing.F) {
	salt, cs, proof := random(wire.SaltSize), share(f).PublicKey().Bytes(), random(32)
	f.Add([]byte{})
	f.Add(frames(f, &wire.Auth{Version: wire.Version, Share: cs, Proof: proof}))
	f.Add(frames(f, &wire.Auth{Version: wire.Version, Share: make([]byte, 32), Proof: proof}))
	f.Add(frames(f, &wire.Auth{Version: wire.Version + 1, Share: cs, Proof: proof}))
	f.Add(frames(f, &wire.Auth{Version: 1, Share: cs, Proof: proof}))
	f.Add(frames(f, &wire.Auth{Version: wire.Version, Share: cs[:8]}))
	f.Add(frames(f, &wire.Hello{Version: wire.Version, Share: cs}))
	f.Add(frames(f, &wire.Salt{Salt: salt}))
	f.Add(frames(f, &wire.Job{ID: 1, Key: 1, Source: []byte("src"), Args: []byte("args")}))
	f.Add([]byte{0, 0x10, 0, 0, byte(wire.TypeAuth)})
	f.Fuzz(func(t *testing.T, in []byte) {
		c := wire.NewConn(&streamConn{in: bytes.NewReader(in)})
		if err := auth.Server(c, []byte(secret), offer, guard); err == nil {
			t.Fatalf("the server accepted % x", in)
		}
	})
}

// FuzzClient plays arbitrary bytes as the server: the client must neither
// panic nor accept a server that cannot know the proof for its fresh
// share. (Each new salt costs the client an Argon2id: mutations that keep
// the seeds' salt run fast.)
func FuzzClient(f *testing.F) {
	salt := bytes.Repeat([]byte{7}, wire.SaltSize)
	srv := share(f).PublicKey().Bytes()
	first := frames(f, &wire.Hello{Version: wire.Version, Share: srv}, &wire.Salt{Salt: salt})
	then := func(m wire.Message) []byte { return append(bytes.Clone(first), frames(f, m)...) }
	f.Add([]byte{})
	f.Add(first)
	f.Add(then(&wire.Welcome{Proof: random(32), Workers: 4, Credits: 8}))
	f.Add(then(&wire.Refused{Reason: auth.ReasonWrongSecret}))
	f.Add(then(&wire.Refused{Reason: "client speaks ppgo wire version 2, this ppserver speaks 3"}))
	f.Add(then(&wire.Result{ID: 1, Data: []byte("pickle")}))
	f.Add(frames(f, &wire.Hello{Version: wire.Version, Share: make([]byte, 32)}, &wire.Salt{Salt: salt}))
	f.Add(frames(f, &wire.Hello{Version: 1, Share: srv}))
	f.Add(frames(f, &wire.Hello{Version: wire.Version + 1, Share: srv}))
	f.Add(append([]byte{0, 0, 0, 0, 0, 0, 0, 5}, "1.7.0"...)) // a legacy ppserver
	f.Fuzz(func(t *testing.T, in []byte) {
		c := wire.NewConn(&streamConn{in: bytes.NewReader(in)})
		if offer, err := auth.Client(c, []byte(secret), guard); err == nil {
			t.Fatalf("the client accepted % x with offer %+v", in, offer)
		}
	})
}
