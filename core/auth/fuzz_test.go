package auth_test

import (
	"bytes"
	"testing"

	"github.com/ppgo/ppgo/core/auth"
	"github.com/ppgo/ppgo/core/wire"
)

// FuzzServer plays arbitrary bytes as the client: the server must neither
// panic nor accept a client that cannot know its nonce's proof.
func FuzzServer(f *testing.F) {
	cn := nonce()
	f.Add([]byte{})
	f.Add(frames(f, &wire.Auth{Version: wire.Version, Nonce: cn, Proof: specProof(secret, clientLabel, cn, cn)}))
	f.Add(frames(f, &wire.Auth{Version: wire.Version + 1, Nonce: cn, Proof: cn}))
	f.Add(frames(f, &wire.Auth{Version: wire.Version, Nonce: cn[:8]}))
	f.Add(frames(f, &wire.Hello{Version: wire.Version, Nonce: cn}))
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
// panic nor accept a server that cannot know its nonce's proof.
func FuzzClient(f *testing.F) {
	sn := nonce()
	hello := frames(f, &wire.Hello{Version: wire.Version, Nonce: sn})
	f.Add([]byte{})
	f.Add(hello)
	f.Add(append(hello, frames(f, &wire.Welcome{Proof: specProof(secret, serverLabel, sn, sn), Workers: 4, Credits: 8})...))
	f.Add(append(hello, frames(f, &wire.Refused{Reason: auth.ReasonWrongSecret})...))
	f.Add(append(hello, frames(f, &wire.Refused{Reason: "version"})...))
	f.Add(append(hello, frames(f, &wire.Result{ID: 1, Data: []byte("pickle")})...))
	f.Add(frames(f, &wire.Hello{Version: wire.Version + 1, Nonce: sn}))
	f.Fuzz(func(t *testing.T, in []byte) {
		c := wire.NewConn(&streamConn{in: bytes.NewReader(in)})
		if offer, err := auth.Client(c, []byte(secret), guard); err == nil {
			t.Fatalf("the client accepted % x with offer %+v", in, offer)
		}
	})
}
