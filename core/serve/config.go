package serve

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ppgo/ppgo/core/pool"
	"github.com/ppgo/ppgo/core/wire"
)

// Config describes a node. A zero limit means its default (const.go says
// why each default is what it is); New fills them in, and Server.Config
// returns what is in effect.
type Config struct {
	// Pool describes the worker interpreters; Pool.Workers must be > 0.
	Pool pool.Config
	// Secret is the shared secret clients must prove; it must not be empty
	// (auth.CheckListen decides which secret a listen address allows).
	Secret string
	// Limits bound every client connection: silence, handshake deadline
	// and frame size.
	wire.Limits
	// CreditsPerSlot is how many jobs a client may have in flight per job
	// the pool takes at once: one per worker while jobs are long, up to
	// pool.MaxJobsPerWorker per worker while they are short. More than one
	// hides the network round trip (DefaultCreditsPerSlot).
	CreditsPerSlot int

	// MaxHandshakes bounds the connections still in their handshake, from
	// every source together; more are closed unheard. The default is
	// DefaultMaxHandshakes, or a quarter of the file descriptor limit
	// (RLIMIT_NOFILE) where that is smaller.
	MaxHandshakes int
	// MaxHandshakesPerAddr bounds them per source address
	// (DefaultMaxHandshakesPerAddr, at most MaxHandshakes).
	MaxHandshakesPerAddr int
	// FailedHandshakeBurst and FailedHandshakeRate (per second) are the
	// token bucket of failed handshakes per source address; a source
	// over it has its connections closed unheard
	// (DefaultFailedHandshakeBurst, DefaultFailedHandshakeRate).
	FailedHandshakeBurst int
	FailedHandshakeRate  float64

	// WriteTimeout is how long a write to a client may make no progress
	// before the client is dropped as a slow consumer
	// (DefaultWriteTimeout).
	WriteTimeout time.Duration
	// MaxQueuedBytes bounds the results waiting for a client behind the
	// one being written; a client whose queue stays over it for
	// WriteTimeout is dropped as a slow consumer (DefaultMaxQueuedBytes).
	MaxQueuedBytes int64

	// SummaryInterval is how often repeated events are summed up in one
	// log line (DefaultSummaryInterval).
	SummaryInterval time.Duration
	// Logger receives connection events and errors; nil discards them.
	Logger *slog.Logger
}

// withDefaults checks c and returns it with every zero limit set to its
// default; fdLimit is the process's file descriptor limit (0: unknown).
func (c Config) withDefaults(fdLimit uint64) (Config, error) {
	if c.Secret == "" {
		return c, errors.New("serve: no secret")
	}
	if c.Pool.Workers <= 0 {
		return c, fmt.Errorf("serve: need at least one worker, got %d", c.Pool.Workers)
	}
	for _, l := range []struct {
		name     string
		negative bool
	}{
		{"CreditsPerSlot", c.CreditsPerSlot < 0},
		{"MaxHandshakes", c.MaxHandshakes < 0},
		{"MaxHandshakesPerAddr", c.MaxHandshakesPerAddr < 0},
		{"FailedHandshakeBurst", c.FailedHandshakeBurst < 0},
		{"FailedHandshakeRate", c.FailedHandshakeRate < 0},
		{"WriteTimeout", c.WriteTimeout < 0},
		{"MaxQueuedBytes", c.MaxQueuedBytes < 0},
		{"SummaryInterval", c.SummaryInterval < 0},
	} {
		if l.negative {
			return c, fmt.Errorf("serve: %s must not be negative", l.name)
		}
	}
	c.Limits = c.Limits.WithDefaults()
	if c.CreditsPerSlot == 0 {
		c.CreditsPerSlot = DefaultCreditsPerSlot
	}
	if c.MaxHandshakes == 0 {
		c.MaxHandshakes = defaultMaxHandshakes(fdLimit)
	}
	if c.MaxHandshakesPerAddr == 0 {
		c.MaxHandshakesPerAddr = DefaultMaxHandshakesPerAddr
	}
	c.MaxHandshakesPerAddr = min(c.MaxHandshakesPerAddr, c.MaxHandshakes)
	if c.FailedHandshakeBurst == 0 {
		c.FailedHandshakeBurst = DefaultFailedHandshakeBurst
	}
	if c.FailedHandshakeRate == 0 {
		c.FailedHandshakeRate = DefaultFailedHandshakeRate
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.MaxQueuedBytes == 0 {
		c.MaxQueuedBytes = DefaultMaxQueuedBytes
	}
	if c.SummaryInterval == 0 {
		c.SummaryInterval = DefaultSummaryInterval
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// defaultMaxHandshakes is DefaultMaxHandshakes, or a handshakeFDShare of
// a small file descriptor limit.
func defaultMaxHandshakes(fdLimit uint64) int {
	if fdLimit == 0 {
		return DefaultMaxHandshakes
	}
	return int(max(1, min(DefaultMaxHandshakes, fdLimit/handshakeFDShare)))
}
