package auth_test

import (
	"errors"
	"testing"
	"time"

	"github.com/ppgo/ppgo/core/auth"
	"github.com/ppgo/ppgo/core/wire"
)

// A man in the middle who relays a real client's handshake to a real
// server gets an authenticated connection, but cannot speak on it: the
// session is sealed with keys only the two ends can derive.
func TestRelayedHandshakeCannotInjectFrames(t *testing.T) {
	clientSide, mitmToClient := pipePair(t)
	mitmToServer, serverSide := pipePair(t)

	clientDone := goClient(clientSide, "s3cret", guard)
	server := wire.NewConn(serverSide)
	serverDone := make(chan error, 1)
	go func() {
		err := auth.Server(server, []byte("s3cret"), auth.Offer{Workers: 1, Credits: 2}, guard)
		if err == nil {
			_, err = server.Read() // the next frame, whoever wrote it
		}
		serverDone <- err
	}()

	toClient, toServer := wire.NewConn(mitmToClient), wire.NewConn(mitmToServer)
	relay := func(from, to *wire.Conn) {
		t.Helper()
		m, err := from.Read()
		if err != nil {
			t.Fatalf("relay read: %v", err)
		}
		if err := to.Write(m); err != nil {
			t.Fatal(err)
		}
		if err := to.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []*wire.Conn{toClient, toServer} {
		c.SetDeadline(time.Now().Add(guard))
	}
	relay(toServer, toClient) // Hello
	relay(toClient, toServer) // Auth
	relay(toServer, toClient) // Welcome
	if r := await(t, "client", clientDone); r.err != nil {
		t.Fatalf("client: %v", r.err)
	}

	toServer.SetMaxFrame(wire.DefaultMaxFrame)
	if err := send(toServer, &wire.Job{ID: 1, Key: 1, Source: []byte("evil"), Args: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if err := await(t, "server", serverDone); !errors.Is(err, wire.ErrMalformed) {
		t.Fatalf("server read an injected frame: %v; want ErrMalformed", err)
	}
}
