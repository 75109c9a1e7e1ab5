package serve

import "time"

// The limits of a node and their defaults, named in one place. Config has
// a field for each that a deployment may want to change.
const (
	// DefaultCreditsPerSlot keeps each worker fed while results travel
	// back: a client may have two jobs in flight per job the pool takes at
	// once, one running and one on its way.
	DefaultCreditsPerSlot = 2

	// DefaultSummaryInterval is how often repeated events (accept errors)
	// are summed up in the log: the first of each kind is logged when it
	// happens, the rest in one line per interval, so thousands a second
	// cost two log lines every ten seconds.
	DefaultSummaryInterval = 10 * time.Second

	// acceptBackoffMin and acceptBackoffMax bound the wait after Accept
	// fails (out of file descriptors, for one), doubling while it keeps
	// failing, as net/http does: the node neither spins nor gives up.
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)
