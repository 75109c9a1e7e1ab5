//go:build !(linux || darwin || dragonfly || freebsd || netbsd || openbsd)

package discovery

import (
	"errors"
	"fmt"
	"runtime"
)

// setSockopts fails: sharing the port is not written for this system.
func setSockopts(uintptr) error {
	return fmt.Errorf("sharing a UDP port on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}
