package auth

import (
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/ppgo/ppgo/core/wire"
)

// Labels of the key schedule (SPEC.md section 5.1), ASCII, no terminator.
// Each names the version, so no key of one version is a key of another.
const (
	transcriptLabel     = "ppgo wire v2 transcript"
	clientProofLabel    = "ppgo wire v2 client proof"
	serverProofLabel    = "ppgo wire v2 server proof"
	clientToServerLabel = "ppgo wire v2 client-to-server"
	serverToClientLabel = "ppgo wire v2 server-to-client"
)

// sessionKeys are what one handshake derives: the client's proof, the key
// the server proves its offer with, and one session key per direction.
type sessionKeys struct {
	clientProof    []byte
	serverProofKey []byte
	clientToServer []byte
	serverToClient []byte
}

// transcript hashes what both ends said: the versions of Hello and Auth,
// the server's share and salt, and the client's share. Every field has a
// fixed size, so the concatenation is unambiguous.
func transcript(serverShare, salt, clientShare []byte) []byte {
	var version [4]byte
	binary.BigEndian.PutUint32(version[:], wire.Version)
	h := sha256.New()
	h.Write([]byte(transcriptLabel))
	h.Write(version[:]) // Hello's
	h.Write(serverShare)
	h.Write(salt)
	h.Write(version[:]) // Auth's
	h.Write(clientShare)
	return h.Sum(nil)
}

// deriveKeys runs the key schedule: HKDF-SHA256 over the stretched secret
// and the X25519 shared secret, salted with the transcript hash. Only an
// end that knows the secret and one of the two ephemeral private keys can
// compute it; an eavesdropper who later learns the secret still lacks the
// ephemeral keys (forward secrecy).
func deriveKeys(stretched, shared, th []byte) (sessionKeys, error) {
	ikm := make([]byte, 0, len(stretched)+len(shared))
	ikm = append(append(ikm, stretched...), shared...)
	prk, err := hkdf.Extract(sha256.New, ikm, th)
	if err != nil {
		return sessionKeys{}, fmt.Errorf("auth: key schedule: %w", err)
	}
	var k sessionKeys
	for _, out := range []struct {
		key   *[]byte
		label string
		size  int
	}{
		{&k.clientProof, clientProofLabel, wire.ProofSize},
		{&k.serverProofKey, serverProofLabel, sha256.Size},
		{&k.clientToServer, clientToServerLabel, wire.KeySize},
		{&k.serverToClient, serverToClientLabel, wire.KeySize},
	} {
		if *out.key, err = hkdf.Expand(sha256.New, prk, out.label, out.size); err != nil {
			return sessionKeys{}, fmt.Errorf("auth: key schedule: %w", err)
		}
	}
	return k, nil
}

// serverProof covers the offer as well as the exchange, so nobody on the
// path can change what the client is told about the node.
func serverProof(key []byte, offer Offer) []byte {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(int64(offer.Workers)))
	binary.BigEndian.PutUint64(b[8:], uint64(int64(offer.Credits)))
	mac := hmac.New(sha256.New, key)
	mac.Write(b[:])
	return mac.Sum(nil)
}

// sharedSecret is X25519 of our private key and the peer's share. A share
// of the wrong size, or a low-order point that makes the result all zero,
// is an error: such a share contributes nothing secret.
func sharedSecret(priv *ecdh.PrivateKey, peerShare []byte) ([]byte, error) {
	if len(peerShare) != wire.ShareSize {
		return nil, fmt.Errorf("key share of %d bytes, want %d", len(peerShare), wire.ShareSize)
	}
	pub, err := ecdh.X25519().NewPublicKey(peerShare)
	if err != nil {
		return nil, err
	}
	return priv.ECDH(pub)
}

// newShare makes a fresh ephemeral X25519 key pair.
func newShare() (*ecdh.PrivateKey, error) {
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("auth: key share: %w", err)
	}
	return priv, nil
}
