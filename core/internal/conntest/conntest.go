// Package conntest makes connected pairs of net.Conn for the tests of the
// network packages, so that every test can run over an in-memory pipe and
// over real TCP on loopback.
package conntest

import (
	"net"
	"testing"
	"time"
)

// Transport names a way to make a connected pair: the dialling end, then
// the accepting end.
type Transport struct {
	Name string
	Pair func(t *testing.T) (net.Conn, net.Conn)
}

// Transports are every way: net.Pipe and TCP on 127.0.0.1.
var Transports = []Transport{{"pipe", PipePair}, {"tcp", TCPPair}}

// PipePair is a synchronous in-memory pair, closed when the test ends.
func PipePair(t *testing.T) (net.Conn, net.Conn) {
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// TCPPair is a TCP connection on loopback, closed when the test ends.
func TCPPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type accepted struct {
		c   net.Conn
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		ch <- accepted{c, err}
	}()
	dialed, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dialed.Close() })
	select {
	case a := <-ch:
		if a.err != nil {
			t.Fatalf("accept: %v", a.err)
		}
		t.Cleanup(func() { a.c.Close() })
		return dialed, a.c
	case <-time.After(5 * time.Second):
		t.Fatal("accept timed out")
		return nil, nil
	}
}
