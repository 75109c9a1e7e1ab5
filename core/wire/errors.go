package wire

import "errors"

var (
	// ErrFrameTooLarge means a peer announced a frame over the limit; the
	// connection cannot be resynchronised and must be closed.
	ErrFrameTooLarge = errors.New("wire: frame too large")

	// ErrMalformed means a frame's type or body could not be decoded, or
	// a sealed frame failed to open; the connection must be closed.
	ErrMalformed = errors.New("wire: malformed frame")
)
