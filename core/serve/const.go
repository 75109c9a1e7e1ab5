package serve

import "time"

// The limits of a node and their defaults, named in one place. Config has
// a field for each that a deployment may want to change; docs/PPSERVER.md
// says how ppserver exposes them.
const (
	// DefaultCreditsPerSlot keeps each worker fed while results travel
	// back: a client may have two jobs in flight per job the pool takes at
	// once, one running and one on its way.
	DefaultCreditsPerSlot = 2

	// DefaultMaxHandshakes bounds the connections that have not yet proven
	// the secret, all sources together. A handshake is one round trip and
	// two HMACs (about a millisecond on a LAN, at most HandshakeTimeout),
	// so even a cluster of this many clients redialling a restarted node
	// at once fits, while a flood of connections that never authenticate
	// holds at most this many file descriptors. New ones beyond it are
	// closed unheard. It is lowered to a handshakeFDShare of the process's
	// file descriptor limit where that is small.
	DefaultMaxHandshakes = 256

	// handshakeFDShare is the largest share (1/n) of the file descriptor
	// limit (RLIMIT_NOFILE) that connections in their handshake may hold
	// by default. The rest stays for authenticated clients, the workers'
	// pipes and the listener, so unauthenticated connections alone can
	// never run the node out of descriptors.
	handshakeFDShare = 4

	// DefaultMaxHandshakesPerAddr bounds the connections in their handshake
	// from one source address. A client opens one connection per node, so
	// even a machine running many client scripts that start together
	// rarely has more than a few handshakes in flight; one misbehaving
	// address gets a sixteenth of DefaultMaxHandshakes, the other
	// addresses keep the rest. A client refused this way redials with
	// backoff.
	DefaultMaxHandshakesPerAddr = 16

	// DefaultFailedHandshakeBurst and DefaultFailedHandshakeRate are the
	// token bucket of failed handshakes per source address: a source may
	// fail this many at once, then one per second; beyond that its
	// connections are closed unheard, without running the handshake. A
	// client with the wrong secret redials with backoff (100 ms doubling
	// to 5 s), so it fails about ten times in its first ten seconds and
	// stays under the rate after; a source that fails thousands of times a
	// second is guessing, or broken, and costs one cheap close each.
	DefaultFailedHandshakeBurst = 10
	DefaultFailedHandshakeRate  = 1.0 // per second

	// DefaultWriteTimeout bounds how long a write to a client may make no
	// progress: each writeChunk bytes of it must leave within this time.
	// A client's reader drains its socket whatever its Python code does,
	// so only a stopped or wedged client (or a dead link) blocks a write
	// this long. It is nats-server's write deadline, and half the silence
	// limit: a slow consumer is let go sooner than a dead peer would be.
	DefaultWriteTimeout = 10 * time.Second

	// writeChunk is the most a single write to a client's socket carries
	// under one write deadline, so a large result going out over a slow
	// but live link is never cut off: at the defaults, a client reading
	// at 26 KB/s keeps up.
	writeChunk = 256 << 10

	// DefaultMaxQueuedBytes bounds the results waiting for a client behind
	// the one being written. The client's credits already bound how many
	// there are; this bounds their size. A client whose queue stays over
	// it for WriteTimeout is dropped as a slow consumer. 256 MiB lets a
	// full window of a 16-worker node (128 credits) wait with 2 MiB
	// results each, and a single result of any size up to the frame limit
	// never counts against it while it is being written.
	DefaultMaxQueuedBytes = 256 << 20

	// writeBatchBytes is how many bytes of small results the writer takes
	// from the queue at once, to send with one flush; a larger result goes
	// alone. Results stay counted as queued until the writer takes them.
	writeBatchBytes = 64 << 10

	// DefaultSummaryInterval is how often repeated events (failed
	// handshakes, connections refused unheard, accept errors) are summed
	// up in the log: the first of each kind and address is logged when it
	// happens, the rest in one line per interval, so a flood of thousands
	// a second costs two log lines every ten seconds.
	DefaultSummaryInterval = 10 * time.Second

	// acceptBackoffMin and acceptBackoffMax bound the wait after Accept
	// fails (out of file descriptors, for one), doubling while it keeps
	// failing, as net/http does: the node neither spins nor gives up.
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)
