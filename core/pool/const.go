package pool

import "time"

// Limits of the worker pool, named in one place.
const (
	// frameHeaderSize is the fixed header of every pipe frame: body length
	// (uint32), kind (uint8), job id (uint64), and a kind-specific uint64.
	frameHeaderSize = 4 + 1 + 8 + 8

	// MaxFrameBody is the largest frame body the pipe protocol carries; the
	// length field is a uint32.
	MaxFrameBody = 1<<32 - 1 - (frameHeaderSize - 4)

	// DefaultMaxResult is the largest result (RESULT frame body) a pool
	// accepts unless its Config says otherwise: 1 GiB, as large as a
	// ppserver may send back (wire.DefaultMaxFrame), so a job's result is
	// accepted or refused alike wherever the scheduler runs it. Results of
	// hundreds of MB pass; a header announcing more (four bytes of junk
	// read as a length announce up to 4 GiB) fails the job with what was
	// announced, and the worker that sent it is replaced.
	DefaultMaxResult = 1 << 30

	// bodyChunk is the most the pool allocates for a frame body before its
	// bytes arrive: a longer body's buffer doubles as it fills, so a header
	// that lies about its length costs at most about four times what was
	// really sent (and a 1 GiB result, one extra copy). Smaller bodies,
	// nearly all results, are allocated once at their size. It is the
	// pipe's buffer: what a worker can write before the pool reads.
	bodyChunk = pipeBufferSize

	// eofGrace is how long a worker whose results pipe has reached end of
	// input may take to exit before it is killed. A worker closes that
	// pipe only by exiting; one that lives on could never report its jobs.
	eofGrace = 2 * time.Second

	// MaxJobsPerWorker is how many jobs a worker may be handed at once
	// while jobs are short: the next job waits in the worker's pipe, so the
	// worker never idles for a round trip through Go. Long jobs get one at
	// a time, so a job never waits behind another on a busy worker while a
	// different worker is idle. A pool's scheduler capacity is workers ×
	// its current depth (1 or MaxJobsPerWorker).
	MaxJobsPerWorker = 4

	// pipelineBelow is the average job run time under which workers are
	// handed MaxJobsPerWorker jobs: a job then waits behind at most
	// MaxJobsPerWorker-1 others of about this length.
	pipelineBelow = time.Millisecond

	// averageWeight is the weight 1/n of each job in the running average
	// of job run times.
	averageWeight = 8

	// respawnBackoffMin and respawnBackoffMax bound the delay before
	// replacing a worker that died before it said it was ready, so a
	// broken interpreter cannot make the pool fork in a tight loop.
	respawnBackoffMin = 50 * time.Millisecond
	respawnBackoffMax = 5 * time.Second

	// pipeBufferSize is the kernel buffer asked for each worker pipe (the
	// default is 64 KiB; unprivileged processes may go up to
	// /proc/sys/fs/pipe-max-size, 1 MiB by default).
	pipeBufferSize   = 1 << 20
	fcntlSetPipeSize = 1031 // F_SETPIPE_SZ on Linux

	// pipeAtomicWrite is PIPE_BUF on Linux: a write of at most this many
	// bytes to a pipe is atomic, so a non-blocking one either writes the
	// whole frame or nothing (EAGAIN). Dispatch writes frames this small
	// itself (worker.writeNow); a partial frame would need the writer
	// goroutine to finish it.
	pipeAtomicWrite = 4096

	// closeGrace is how long Close waits for killed workers to be reaped.
	closeGrace = 2 * time.Second
)
