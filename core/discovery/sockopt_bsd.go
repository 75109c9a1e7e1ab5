//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package discovery

import "syscall"

// setSockopts lets several sockets bind the discovery port, all of them
// receiving every broadcast, and lets the socket send broadcasts. The BSDs
// need SO_REUSEPORT as well for two wildcard binds of one port.
func setSockopts(fd uintptr) error {
	for _, opt := range []int{syscall.SO_REUSEADDR, syscall.SO_REUSEPORT, syscall.SO_BROADCAST} {
		if err := syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, opt, 1); err != nil {
			return err
		}
	}
	return nil
}
