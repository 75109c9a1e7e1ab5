package discovery

import "syscall"

// setSockopts lets several sockets bind the discovery port, all of them
// receiving every broadcast, and lets the socket send broadcasts.
// SO_REUSEPORT is left off: Linux would refuse it between processes of
// different users, such as a ppserver daemon and a client.
func setSockopts(fd uintptr) error {
	if err := syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		return err
	}
	return syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_BROADCAST, 1)
}
