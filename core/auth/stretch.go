package auth

import (
	"crypto/rand"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/ppgo/ppgo/core/wire"
)

// Argon2id parameters that stretch the secret (SPEC.md section 5.1): RFC
// 9106's second recommended option. They are part of the protocol
// version, not sent, so a fake server cannot make a client's proof cheap
// to test guesses against. One stretch takes ~60 ms on one core of a 2024
// server (~0.4 s under the race detector) and 64 MiB while it runs; a
// machine ten times slower still stays far inside DefaultHandshakeTimeout.
const (
	ArgonTime    = 3
	ArgonMemory  = 64 << 10 // KiB
	ArgonThreads = 4
)

// Bounds on stretching, which costs ArgonMemory while it runs.
const (
	// maxStretchedKeys bounds the cache of stretched secrets: one per
	// (secret, server salt) a process has met. A client meets one salt per
	// ppserver; beyond this many, the oldest is forgotten (and stretched
	// again if met again).
	maxStretchedKeys = 64
	// maxConcurrentStretch bounds the stretches running at once, so a
	// client that discovers many nodes at once needs at most this many
	// times ArgonMemory.
	maxConcurrentStretch = 2
)

// MinSecretLength is the shortest secret WeakSecret accepts without a
// warning. Argon2id makes each guess cost; it cannot make a short secret
// long.
const MinSecretLength = 16

// stretchCache remembers stretched secrets by (secret, salt).
type stretchCache struct {
	kdf   func(secret, salt []byte) []byte
	limit int           // entries kept
	slots chan struct{} // kdf runs at once
	runs  atomic.Uint64 // kdf runs so far, for tests

	mu      sync.Mutex
	entries map[string]*stretched // salt || secret → entry
	order   []string              // keys of entries, oldest first
}

// stretched is one entry; done closes once key is set.
type stretched struct {
	done chan struct{}
	key  []byte
}

func newStretchCache(kdf func(secret, salt []byte) []byte, limit, concurrent int) *stretchCache {
	return &stretchCache{kdf: kdf, limit: limit, slots: make(chan struct{}, concurrent), entries: map[string]*stretched{}}
}

// argon2id stretches secret, then hands the 64 MiB it worked in back to
// the operating system at once: a ppserver would otherwise idle at 70 MB
// of resident memory instead of 5, and a client keep 64 MiB more after
// each new ppserver, until the runtime's scavenger got round to it. A
// stretch is rare (once per secret and salt), so the forced collection is
// too.
func argon2id(secret, salt []byte) []byte {
	key := argon2.IDKey(secret, salt, ArgonTime, ArgonMemory, ArgonThreads, 32)
	debug.FreeOSMemory()
	return key
}

// stretches is the process's cache: a client pays for a secret once per
// ppserver it meets, a ppserver once.
var stretches = newStretchCache(argon2id, maxStretchedKeys, maxConcurrentStretch)

// stretch returns Argon2id(secret, salt), computed once per (secret, salt)
// in this process however many connections ask at once.
func stretch(secret, salt []byte) []byte { return stretches.get(secret, salt) }

func (c *stretchCache) get(secret, salt []byte) []byte {
	id := string(salt) + string(secret) // the salt has a fixed size
	c.mu.Lock()
	e := c.entries[id]
	if e != nil {
		c.mu.Unlock()
		<-e.done
		return e.key
	}
	e = &stretched{done: make(chan struct{})}
	c.entries[id] = e
	c.order = append(c.order, id)
	if len(c.order) > c.limit {
		delete(c.entries, c.order[0]) // its waiters hold it still
		c.order = c.order[1:]
	}
	c.mu.Unlock()

	c.slots <- struct{}{}
	e.key = c.kdf(secret, salt)
	<-c.slots
	c.runs.Add(1)
	close(e.done)
	return e.key
}

// serverSalt is this process's salt: random, drawn once, sent to every
// client in Salt. A ppserver is one process, so it is the ppserver's
// salt; other servers' salts differ, so no table of stretched guesses
// serves against two of them.
var serverSalt = sync.OnceValue(func() []byte {
	salt := make([]byte, wire.SaltSize)
	rand.Read(salt)
	return salt
})

// PrepareServer stretches secret with the server's salt now, so that the
// first client's handshake does not wait for it. Optional: Server does it
// on first use.
func PrepareServer(secret []byte) {
	stretch(secret, serverSalt())
}

// WeakSecret says, in a sentence for a log, why secret is weak: legacy
// pp's published default (or none), or shorter than MinSecretLength. It
// returns "" for a secret it has nothing against. A weak secret is what an
// impostor could guess: one who gets a client to connect to it (by
// answering discovery, or spoofing a name) can test guesses offline
// against that client's proof, each guess costing one Argon2id.
func WeakSecret(secret string) string {
	const advice = "use a random secret of %d or more characters on both ends (ppserver --secret-file, pp.Server(secret=...), PP_SECRET_FILE or PP_SECRET)"
	if secret == "" || secret == DefaultSecret {
		return fmt.Sprintf("the secret is legacy pp's published default: anyone can use it; "+advice, MinSecretLength)
	}
	if n := utf8.RuneCountInString(secret); n < MinSecretLength {
		return fmt.Sprintf("the secret is short (%d characters): whoever gets a client to connect to an impostor "+
			"can test guesses of it offline; "+advice, n, MinSecretLength)
	}
	return ""
}
