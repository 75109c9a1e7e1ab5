package auth_test

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/ppgo/ppgo/core/auth"
	"github.com/ppgo/ppgo/core/internal/conntest"
	"github.com/ppgo/ppgo/core/wire"
)

const (
	secret = "s3cret: shared by client and node"
	// guard bounds every wait: a handshake that hangs fails its test.
	guard = 10 * time.Second
)

// The key schedule exactly as SPEC.md gives it, written apart from the
// package: the tests that use it check the implementation against the
// spec, byte for byte.
const (
	specTranscriptLabel = "ppgo wire v2 transcript"
	specClientProof     = "ppgo wire v2 client proof"
	specServerProof     = "ppgo wire v2 server proof"
	specClientToServer  = "ppgo wire v2 client-to-server"
	specServerToClient  = "ppgo wire v2 server-to-client"
)

var (
	specStretchMu sync.Mutex
	specStretched = map[string][]byte{}
)

// specStretch is Argon2id(secret, salt, t=3, m=64 MiB, p=4), 32 bytes,
// remembered so that tests pay for it once per (secret, salt).
func specStretch(key string, salt []byte) []byte {
	specStretchMu.Lock()
	defer specStretchMu.Unlock()
	id := string(salt) + key
	if k, ok := specStretched[id]; ok {
		return k
	}
	k := argon2.IDKey([]byte(key), salt, 3, 64*1024, 4, 32)
	specStretched[id] = k
	return k
}

// specKeys is what both ends of a handshake derive.
type specKeys struct {
	clientProof, serverProofKey, c2s, s2c []byte
}

// specSchedule runs SPEC.md's key schedule for secret key over a handshake
// with the server's share, salt and client's share; shared is X25519 of
// one end's private key and the other's share.
func specSchedule(key string, salt, serverShare, clientShare, shared []byte) specKeys {
	th := sha256.New()
	th.Write([]byte(specTranscriptLabel))
	version := []byte{0, 0, 0, wire.Version} // be32, as both ends sent it
	th.Write(version)
	th.Write(serverShare)
	th.Write(salt)
	th.Write(version)
	th.Write(clientShare)
	ikm := append(bytes.Clone(specStretch(key, salt)), shared...)
	prk, err := hkdf.Extract(sha256.New, ikm, th.Sum(nil))
	if err != nil {
		panic(err)
	}
	expand := func(label string) []byte {
		k, err := hkdf.Expand(sha256.New, prk, label, 32)
		if err != nil {
			panic(err)
		}
		return k
	}
	return specKeys{expand(specClientProof), expand(specServerProof), expand(specClientToServer), expand(specServerToClient)}
}

// proof is the server's proof of an offer: HMAC-SHA256 over workers and
// credits, each an int64, big-endian.
func (k specKeys) proof(workers, credits int) []byte {
	mac := hmac.New(sha256.New, k.serverProofKey)
	binary.Write(mac, binary.BigEndian, [2]int64{int64(workers), int64(credits)})
	return mac.Sum(nil)
}

// share is a fresh X25519 key pair.
func share(t testing.TB) *ecdh.PrivateKey {
	t.Helper()
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// x25519 is priv's shared secret with the peer's share.
func x25519(t testing.TB, priv *ecdh.PrivateKey, peer []byte) []byte {
	t.Helper()
	pub, err := ecdh.X25519().NewPublicKey(peer)
	if err != nil {
		t.Fatal(err)
	}
	z, err := priv.ECDH(pub)
	if err != nil {
		t.Fatal(err)
	}
	return z
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// specServer is a server written from SPEC.md: it sends Hello and Salt,
// and works out the keys of the Auth it reads.
type specServer struct {
	priv *ecdh.PrivateKey
	salt []byte
	auth *wire.Auth
}

// open sends the server's first flight on c.
func (s *specServer) open(t testing.TB, c *wire.Conn) error {
	t.Helper()
	if s.priv == nil {
		s.priv = share(t)
	}
	if s.salt == nil {
		s.salt = random(wire.SaltSize)
	}
	if err := c.Write(&wire.Hello{Version: wire.Version, Share: s.priv.PublicKey().Bytes()}); err != nil {
		return err
	}
	return send(c, &wire.Salt{Salt: s.salt})
}

// readAuth reads the client's Auth.
func (s *specServer) readAuth(c *wire.Conn) error {
	m, err := c.Read()
	if err != nil {
		return err
	}
	a, ok := m.(*wire.Auth)
	if !ok {
		return fmt.Errorf("got %v, want Auth", m.MessageType())
	}
	s.auth = a
	return nil
}

// keys are the handshake's keys under secret key.
func (s *specServer) keys(t testing.TB, key string) specKeys {
	serverShare := s.priv.PublicKey().Bytes()
	return specSchedule(key, s.salt, serverShare, s.auth.Share, x25519(t, s.priv, s.auth.Share))
}

// The connected pairs every test runs over.
type transport = conntest.Transport

var (
	transports = conntest.Transports
	pipePair   = conntest.PipePair
	tcpPair    = conntest.TCPPair
)

type clientResult struct {
	offer auth.Offer
	err   error
}

// goClient runs auth.Client on nc in another goroutine.
func goClient(nc net.Conn, key string, timeout time.Duration) <-chan clientResult {
	ch := make(chan clientResult, 1)
	go func() {
		offer, err := auth.Client(wire.NewConn(nc), []byte(key), timeout)
		ch <- clientResult{offer, err}
	}()
	return ch
}

// goServer runs auth.Server on nc in another goroutine.
func goServer(nc net.Conn, key string, offer auth.Offer, timeout time.Duration) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- auth.Server(wire.NewConn(nc), []byte(key), offer, timeout) }()
	return ch
}

type serverResult struct {
	conn *wire.Conn
	err  error
}

// goServerConn is goServer that also hands back the connection, sealed
// when the handshake succeeded.
func goServerConn(nc net.Conn, key string, offer auth.Offer) <-chan serverResult {
	ch := make(chan serverResult, 1)
	go func() {
		c := wire.NewConn(nc)
		err := auth.Server(c, []byte(key), offer, guard)
		ch <- serverResult{c, err}
	}()
	return ch
}

type clientConnResult struct {
	conn  *wire.Conn
	offer auth.Offer
	err   error
}

// goClientConn is goClient that also hands back the connection.
func goClientConn(nc net.Conn, key string) <-chan clientConnResult {
	ch := make(chan clientConnResult, 1)
	go func() {
		c := wire.NewConn(nc)
		offer, err := auth.Client(c, []byte(key), guard)
		ch <- clientConnResult{c, offer, err}
	}()
	return ch
}

// goPeer runs a hand-written peer on nc in another goroutine.
func goPeer(nc net.Conn, script func(c *wire.Conn) error) <-chan error {
	ch := make(chan error, 1)
	go func() {
		c := wire.NewConn(nc)
		c.SetDeadline(time.Now().Add(guard))
		ch <- script(c)
	}()
	return ch
}

func await[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(guard):
		t.Fatalf("%s did not return within %v", what, guard)
	}
	var zero T
	return zero
}

// send writes and flushes m.
func send(c *wire.Conn, m wire.Message) error {
	if err := c.Write(m); err != nil {
		return err
	}
	return c.Flush()
}

// deadlineConn records the deadlines set on a connection.
type deadlineConn struct {
	net.Conn
	mu    sync.Mutex
	calls []time.Time
}

func (d *deadlineConn) SetDeadline(t time.Time) error {
	d.mu.Lock()
	d.calls = append(d.calls, t)
	d.mu.Unlock()
	return d.Conn.SetDeadline(t)
}

func (d *deadlineConn) deadlines() []time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]time.Time(nil), d.calls...)
}

// streamConn is a net.Conn over bytes: it reads in, discards what is
// written, and ignores deadlines.
type streamConn struct {
	in *bytes.Reader
}

func (s *streamConn) Read(p []byte) (int, error)       { return s.in.Read(p) }
func (s *streamConn) Write(p []byte) (int, error)      { return len(p), nil }
func (s *streamConn) Close() error                     { return nil }
func (s *streamConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (s *streamConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (s *streamConn) SetDeadline(time.Time) error      { return nil }
func (s *streamConn) SetReadDeadline(time.Time) error  { return nil }
func (s *streamConn) SetWriteDeadline(time.Time) error { return nil }

// frames encodes msgs as a peer would send them.
func frames(t testing.TB, msgs ...wire.Message) []byte {
	t.Helper()
	var out bytes.Buffer
	c := wire.NewConn(&recordConn{w: &out})
	for _, m := range msgs {
		if err := c.Write(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// recordConn is a write-only net.Conn into w; reads see EOF.
type recordConn struct {
	streamConn
	w *bytes.Buffer
}

func (r *recordConn) Read([]byte) (int, error)    { return 0, net.ErrClosed }
func (r *recordConn) Write(p []byte) (int, error) { return r.w.Write(p) }

// tapConn records what is written through it.
type tapConn struct {
	net.Conn
	mu      sync.Mutex
	written bytes.Buffer
}

func (c *tapConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.written.Write(p)
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *tapConn) bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.written.Bytes())
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// tcpPairB is a TCP connection on loopback, for benchmarks.
func tcpPairB(b *testing.B) (net.Conn, net.Conn) {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	d, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		b.Fatal("accept failed")
	}
	return d, s
}
