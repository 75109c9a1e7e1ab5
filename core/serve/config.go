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

	// SummaryInterval is how often repeated events are summed up in one
	// log line (DefaultSummaryInterval).
	SummaryInterval time.Duration
	// Logger receives connection events and errors; nil discards them.
	Logger *slog.Logger
}

// withDefaults checks c and returns it with every zero limit set to its
// default.
func (c Config) withDefaults() (Config, error) {
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
	if c.SummaryInterval == 0 {
		c.SummaryInterval = DefaultSummaryInterval
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}
