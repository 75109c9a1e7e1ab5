package wire

import (
	"errors"
	"fmt"
)

var (
	// ErrFrameTooLarge means a peer announced a frame over the limit; the
	// connection cannot be resynchronised and must be closed.
	ErrFrameTooLarge = errors.New("wire: frame too large")

	// ErrMalformed means a frame's type or body could not be decoded, or
	// a sealed frame failed to open; the connection must be closed.
	ErrMalformed = errors.New("wire: malformed frame")

	// ErrVersion means the peer speaks another version of the protocol;
	// the error is a *VersionError that says which.
	ErrVersion = errors.New("wire: another protocol version")
)

// VersionError reports a Hello or Auth of another protocol version. Every
// version begins those two messages with the version, and Read looks at
// it before the rest of the body, whose shape may have changed with it.
type VersionError struct {
	Type    Type  // TypeHello or TypeAuth
	Version int64 // the peer's
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("peer speaks ppgo wire version %d, this is %d", e.Version, Version)
}

// Unwrap makes errors.Is(err, ErrVersion) hold.
func (e *VersionError) Unwrap() error { return ErrVersion }
