// Package auth is the mutual HMAC-SHA256 challenge–response that opens
// every connection between a client and a ppserver (core/wire/SPEC.md):
// each side sends a fresh 32-byte nonce and proves it knows the shared
// secret with an HMAC over a role label and both nonces. No secret crosses
// the wire, a recorded transcript is useless against fresh nonces, and the
// client verifies the server before it trusts, let alone unpickles,
// anything the server sends. Both sides then derive per-direction session
// keys and seal the connection: every later frame carries a MAC.
package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/ppgo/ppgo/core/wire"
)

// DefaultSecret is legacy pp's built-in secret. Anyone can read it, so a
// ppserver accepts it only while it listens on loopback alone.
const DefaultSecret = "epo20pdosl;dksldkmm"

// Role labels keep a client's proof from passing as a server's.
const (
	clientLabel = "ppgo client proof v1"
	serverLabel = "ppgo server proof v1"
)

// Labels of the session keys, one per direction (see sessionKeys).
const (
	clientToServerLabel = "ppgo session client-to-server v1"
	serverToClientLabel = "ppgo session server-to-client v1"
)

// ReasonWrongSecret is the Refused reason a client turns into
// ErrWrongSecret.
const ReasonWrongSecret = "wrong secret"

var (
	// ErrWrongSecret means the peer's proof did not match: the two ends
	// were given different secrets (or the peer is an impostor).
	ErrWrongSecret = errors.New("auth: wrong secret")
	// ErrRefused means the server refused the handshake; the error text
	// carries its reason.
	ErrRefused = errors.New("auth: refused by server")
	// ErrProtocol means the peer did not follow the handshake.
	ErrProtocol = errors.New("auth: handshake protocol error")
)

// Offer is what a server tells a client it accepted.
type Offer struct {
	Workers int
	Credits int
}

// proof is HMAC-SHA256(secret, label || serverNonce || clientNonce).
func proof(secret []byte, label string, serverNonce, clientNonce []byte) []byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(label))
	mac.Write(serverNonce)
	mac.Write(clientNonce)
	return mac.Sum(nil)
}

// seal derives the session keys from the secret and both nonces and seals
// c with them, so that every later frame is authenticated: a peer that
// relayed the handshake still cannot speak on the connection.
func seal(c *wire.Conn, secret, serverNonce, clientNonce []byte, client bool) error {
	c2s := proof(secret, clientToServerLabel, serverNonce, clientNonce)
	s2c := proof(secret, serverToClientLabel, serverNonce, clientNonce)
	if client {
		return c.Seal(c2s, s2c)
	}
	return c.Seal(s2c, c2s)
}

func newNonce() ([]byte, error) {
	n := make([]byte, wire.NonceSize)
	if _, err := rand.Read(n); err != nil {
		return nil, fmt.Errorf("auth: nonce: %w", err)
	}
	return n, nil
}

// Server runs the server side of the handshake on c within timeout. On
// success the client has proven the secret and has received offer; the
// caller raises c's frame limit. A client that fails is sent a Refused
// reason before the error is returned.
func Server(c *wire.Conn, secret []byte, offer Offer, timeout time.Duration) error {
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	defer c.SetDeadline(time.Time{})
	nonce, err := newNonce()
	if err != nil {
		return err
	}
	if err := send(c, &wire.Hello{Version: wire.Version, Nonce: nonce}); err != nil {
		return err
	}
	m, err := c.Read()
	if err != nil {
		return fmt.Errorf("auth: read client proof: %w", err)
	}
	a, ok := m.(*wire.Auth)
	if !ok {
		return fmt.Errorf("%w: expected Auth, got %v", ErrProtocol, m.MessageType())
	}
	if a.Version != wire.Version {
		refuse(c, fmt.Sprintf("protocol version %d is not supported (this server speaks %d)", a.Version, wire.Version))
		return fmt.Errorf("%w: client speaks protocol version %d", ErrProtocol, a.Version)
	}
	if len(a.Nonce) != wire.NonceSize {
		refuse(c, "malformed challenge")
		return fmt.Errorf("%w: client nonce of %d bytes", ErrProtocol, len(a.Nonce))
	}
	if !hmac.Equal(a.Proof, proof(secret, clientLabel, nonce, a.Nonce)) {
		refuse(c, ReasonWrongSecret)
		return ErrWrongSecret
	}
	if err := send(c, &wire.Welcome{
		Proof:   proof(secret, serverLabel, nonce, a.Nonce),
		Workers: offer.Workers,
		Credits: offer.Credits,
	}); err != nil {
		return err
	}
	return seal(c, secret, nonce, a.Nonce, false)
}

// Client runs the client side of the handshake on c within timeout and
// returns what the server offers. It returns an error, having trusted
// nothing, unless the server proved it knows the secret.
func Client(c *wire.Conn, secret []byte, timeout time.Duration) (Offer, error) {
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return Offer{}, fmt.Errorf("auth: %w", err)
	}
	defer c.SetDeadline(time.Time{})
	m, err := c.Read()
	if err != nil {
		return Offer{}, fmt.Errorf("auth: read server challenge: %w", err)
	}
	h, ok := m.(*wire.Hello)
	if !ok {
		return Offer{}, fmt.Errorf("%w: expected Hello, got %v", ErrProtocol, m.MessageType())
	}
	if h.Version != wire.Version {
		return Offer{}, fmt.Errorf("%w: server speaks protocol version %d, this client %d",
			ErrProtocol, h.Version, wire.Version)
	}
	if len(h.Nonce) != wire.NonceSize {
		return Offer{}, fmt.Errorf("%w: server nonce of %d bytes", ErrProtocol, len(h.Nonce))
	}
	nonce, err := newNonce()
	if err != nil {
		return Offer{}, err
	}
	if err := send(c, &wire.Auth{
		Version: wire.Version,
		Nonce:   nonce,
		Proof:   proof(secret, clientLabel, h.Nonce, nonce),
	}); err != nil {
		return Offer{}, err
	}
	m, err = c.Read()
	if err != nil {
		return Offer{}, fmt.Errorf("auth: read server proof: %w", err)
	}
	switch m := m.(type) {
	case *wire.Refused:
		if m.Reason == ReasonWrongSecret {
			return Offer{}, ErrWrongSecret
		}
		return Offer{}, fmt.Errorf("%w: %s", ErrRefused, m.Reason)
	case *wire.Welcome:
		if !hmac.Equal(m.Proof, proof(secret, serverLabel, h.Nonce, nonce)) {
			return Offer{}, fmt.Errorf("%w: the server could not prove it", ErrWrongSecret)
		}
		if m.Credits < 0 || m.Workers < 0 {
			return Offer{}, fmt.Errorf("%w: negative offer %d credits, %d workers", ErrProtocol, m.Credits, m.Workers)
		}
		if err := seal(c, secret, h.Nonce, nonce, true); err != nil {
			return Offer{}, err
		}
		return Offer{Workers: m.Workers, Credits: m.Credits}, nil
	default:
		return Offer{}, fmt.Errorf("%w: expected Welcome, got %v", ErrProtocol, m.MessageType())
	}
}

func send(c *wire.Conn, m wire.Message) error {
	if err := c.Write(m); err != nil {
		return fmt.Errorf("auth: send %v: %w", m.MessageType(), err)
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("auth: send %v: %w", m.MessageType(), err)
	}
	return nil
}

// refuse tells the client why, best effort: the connection closes anyway.
func refuse(c *wire.Conn, reason string) {
	_ = send(c, &wire.Refused{Reason: reason})
}

// CheckListen enforces the secret policy for a server about to listen on
// host: the legacy default secret (or none) is allowed only when every
// address host can mean is loopback. It returns the secret to use.
func CheckListen(secret, host string) (string, error) {
	if secret != "" && secret != DefaultSecret {
		return secret, nil
	}
	if !isLoopback(host) {
		what := "no secret"
		if secret == DefaultSecret {
			what = "the legacy default secret"
		}
		return "", fmt.Errorf("auth: refusing to listen on %q with %s: anyone could run code here; "+
			"set a secret with -s SECRET, `secret =` in the [general] section of the config file, "+
			"or the PP_SECRET environment variable (or listen on loopback only: -i 127.0.0.1 or -i ::1)", host, what)
	}
	return DefaultSecret, nil
}

// isLoopback: 127.0.0.0/8 and ::1 in any spelling ("[::1]", "::1%lo",
// "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1", which Go binds as 127.0.0.1),
// and the name localhost. "::" is every address, not loopback.
func isLoopback(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
