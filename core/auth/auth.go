// Package auth is the handshake that opens every connection between a
// client and a ppserver (core/wire/SPEC.md section 5): an ephemeral X25519
// exchange, bound to everything both ends said and keyed with the shared
// secret stretched by Argon2id under the server's salt. Each side proves
// it knows the secret, the client first; no secret, and nothing an
// eavesdropper could test a guess against, crosses the wire. The client
// verifies the server before it trusts, let alone unpickles, anything the
// server sends. Both ends then seal the connection with per-direction
// session keys: every later frame is encrypted and authenticated, and a
// recording of it stays unreadable even to someone who learns the secret
// later.
package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/ppgo/ppgo/core/wire"
)

// DefaultSecret is legacy pp's built-in secret. Anyone can read it, so a
// ppserver accepts it only while it listens on loopback alone.
const DefaultSecret = "epo20pdosl;dksldkmm"

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
	// ErrProtocol means the peer did not follow the handshake. A peer of
	// another protocol version is one (the error is also wire.ErrVersion).
	ErrProtocol = errors.New("auth: handshake protocol error")
)

// Offer is what a server tells a client it accepted.
type Offer struct {
	Workers int
	Credits int
}

// Server runs the server side of the handshake on c within timeout. On
// success the client has proven the secret and has received offer, and c
// is sealed; the caller raises c's frame limit. A client that fails is
// sent a Refused reason before the error is returned.
func Server(c *wire.Conn, secret []byte, offer Offer, timeout time.Duration) error {
	salt := serverSalt()
	stretched := stretch(secret, salt) // once per process and secret
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	defer c.SetDeadline(time.Time{})
	priv, err := newShare()
	if err != nil {
		return err
	}
	share := priv.PublicKey().Bytes()
	if err := c.Write(&wire.Hello{Version: wire.Version, Share: share}); err != nil {
		return fmt.Errorf("auth: send Hello: %w", err)
	}
	err = send(c, &wire.Salt{Salt: salt})
	var m wire.Message
	if err == nil {
		m, err = c.Read()
	}
	if ve := (*wire.VersionError)(nil); errors.As(err, &ve) {
		refuse(c, fmt.Sprintf("client speaks ppgo wire version %d, this ppserver speaks %d", ve.Version, wire.Version))
		return &mismatch{fmt.Sprintf("client speaks ppgo wire version %d, this ppserver speaks %d", ve.Version, wire.Version)}
	}
	if hungUp(err) {
		return fmt.Errorf("%w: the client hung up without answering Hello (a ppgo client of another wire version "+
			"does, and so does a legacy Parallel Python client; this ppserver speaks ppgo wire version %d): %w",
			ErrProtocol, wire.Version, err)
	}
	if err != nil {
		return fmt.Errorf("auth: read client proof: %w", err)
	}
	a, ok := m.(*wire.Auth)
	if !ok {
		return fmt.Errorf("%w: expected Auth, got %v", ErrProtocol, m.MessageType())
	}
	shared, err := sharedSecret(priv, a.Share)
	if err != nil {
		refuse(c, "malformed key share")
		return fmt.Errorf("%w: client key share: %v", ErrProtocol, err)
	}
	keys, err := deriveKeys(stretched, shared, transcript(share, salt, a.Share))
	if err != nil {
		return err
	}
	if !hmac.Equal(a.Proof, keys.clientProof) {
		refuse(c, ReasonWrongSecret)
		return ErrWrongSecret
	}
	if err := send(c, &wire.Welcome{
		Proof:   serverProof(keys.serverProofKey, offer),
		Workers: offer.Workers,
		Credits: offer.Credits,
	}); err != nil {
		return err
	}
	return c.Seal(keys.serverToClient, keys.clientToServer)
}

// Client runs the client side of the handshake on c within timeout and
// returns what the server offers, with c sealed. It returns an error,
// having trusted nothing, unless the server proved it knows the secret.
func Client(c *wire.Conn, secret []byte, timeout time.Duration) (Offer, error) {
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return Offer{}, fmt.Errorf("auth: %w", err)
	}
	defer c.SetDeadline(time.Time{})
	m, err := c.Read()
	if ve := (*wire.VersionError)(nil); errors.As(err, &ve) {
		probeVersion(c)
		return Offer{}, &mismatch{fmt.Sprintf("ppserver speaks ppgo wire version %d, this client speaks %d "+
			"(install the same ppgo on both ends)", ve.Version, wire.Version)}
	}
	if errors.Is(err, wire.ErrMalformed) || errors.Is(err, wire.ErrFrameTooLarge) {
		return Offer{}, fmt.Errorf("%w: the server's first frame is not a ppgo Hello "+
			"(a legacy Parallel Python ppserver, or no ppserver at all): %w", ErrProtocol, err)
	}
	if err != nil {
		return Offer{}, fmt.Errorf("auth: read server Hello: %w", err)
	}
	h, ok := m.(*wire.Hello)
	if !ok {
		return Offer{}, fmt.Errorf("%w: expected Hello, got %v", ErrProtocol, m.MessageType())
	}
	if m, err = c.Read(); err != nil {
		return Offer{}, fmt.Errorf("auth: read server salt: %w", err)
	}
	s, ok := m.(*wire.Salt)
	if !ok {
		return Offer{}, fmt.Errorf("%w: expected Salt, got %v", ErrProtocol, m.MessageType())
	}
	if len(s.Salt) != wire.SaltSize {
		return Offer{}, fmt.Errorf("%w: server salt of %d bytes", ErrProtocol, len(s.Salt))
	}
	priv, err := newShare()
	if err != nil {
		return Offer{}, err
	}
	shared, err := sharedSecret(priv, h.Share)
	if err != nil {
		return Offer{}, fmt.Errorf("%w: server key share: %v", ErrProtocol, err)
	}
	share := priv.PublicKey().Bytes()
	keys, err := deriveKeys(stretch(secret, s.Salt), shared, transcript(h.Share, s.Salt, share))
	if err != nil {
		return Offer{}, err
	}
	if err := send(c, &wire.Auth{Version: wire.Version, Share: share, Proof: keys.clientProof}); err != nil {
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
		offer := Offer{Workers: m.Workers, Credits: m.Credits}
		if !hmac.Equal(m.Proof, serverProof(keys.serverProofKey, offer)) {
			return Offer{}, fmt.Errorf("%w: the server could not prove it", ErrWrongSecret)
		}
		if m.Credits < 0 || m.Workers < 0 {
			return Offer{}, fmt.Errorf("%w: negative offer %d credits, %d workers", ErrProtocol, m.Credits, m.Workers)
		}
		if err := c.Seal(keys.clientToServer, keys.serverToClient); err != nil {
			return Offer{}, err
		}
		return offer, nil
	default:
		return Offer{}, fmt.Errorf("%w: expected Welcome, got %v", ErrProtocol, m.MessageType())
	}
}

// mismatch is a handshake between ppgo versions that do not speak the
// same protocol: a protocol error, and wire.ErrVersion.
type mismatch struct{ msg string }

func (m *mismatch) Error() string { return "auth: " + m.msg }

func (m *mismatch) Is(target error) bool { return target == ErrProtocol || target == wire.ErrVersion }

// probeVersion answers a Hello of another version with an Auth in the
// shape every version reads far enough to find the version (version,
// 32 random bytes, no proof), so that the server can log and say which
// versions met; best effort, the connection closes anyway.
func probeVersion(c *wire.Conn) {
	filler := make([]byte, wire.ShareSize)
	rand.Read(filler)
	_ = send(c, &wire.Auth{Version: wire.Version, Share: filler})
}

// hungUp reports a peer that closed the connection rather than answer:
// seen by a read, or by a write it did not wait for.
func hungUp(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.ErrClosedPipe) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
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
			"set a secret with --secret-file PATH (or -s SECRET, which other users can see in ps), "+
			"`secret_file =` or `secret =` in the [general] section of the config file, "+
			"or the PP_SECRET_FILE or PP_SECRET environment variable "+
			"(or listen on loopback only: -i 127.0.0.1 or -i ::1)", host, what)
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
