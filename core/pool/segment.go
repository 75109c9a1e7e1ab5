package pool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/ppgo/ppgo/core/shm"
)

// The segment socket: a SOCK_SEQPACKET socketpair between the pool and a
// worker (the worker's end on fd 5) that carries shared-memory segments
// by descriptor (SCM_RIGHTS), one per message: 8 bytes, the segment's
// size, little-endian, and the descriptor. A segment is sent just before
// the frame that needs it (withSegment set), so segments and frames pair
// up in order, and the receiver of a frame finds its segment already
// queued: the pool never waits for one, and a worker that announces a
// segment it did not send is caught at once.

// segmentMsgSize is a segment message's data: the segment's size.
const segmentMsgSize = 8

// newSegmentSocket makes the socketpair: the pool's end (non-blocking,
// close-on-exec) and the worker's (blocking, for the worker's plain
// recvmsg).
func newSegmentSocket() (ours, theirs *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("segment socket: %w", err)
	}
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, nil, fmt.Errorf("segment socket: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "segment socket"), os.NewFile(uintptr(fds[1]), "segment socket (worker)"), nil
}

// sendSegment passes seg on the pool's end of a segment socket. It never
// waits: a worker holds at most MaxJobsPerWorker jobs, so a full socket
// means a worker that reads no segments, which is broken.
func sendSegment(sock *os.File, seg *shm.Segment) error {
	var msg [segmentMsgSize]byte
	binary.LittleEndian.PutUint64(msg[:], uint64(seg.Size()))
	rc, err := sock.SyscallConn()
	if err != nil {
		return fmt.Errorf("send segment: %w", err)
	}
	return seg.Control(func(segFd int) error {
		var sendErr error
		if err := rc.Control(func(fd uintptr) {
			for {
				sendErr = unix.Sendmsg(int(fd), msg[:], unix.UnixRights(segFd), nil, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
				if sendErr != unix.EINTR {
					return
				}
			}
		}); err != nil {
			return fmt.Errorf("send segment: %w", err)
		}
		if sendErr != nil {
			return fmt.Errorf("send segment: %w", sendErr)
		}
		return nil
	})
}

// recvSegment takes the segment a worker sent ahead of the frame that
// announced one, and vets it (shm.Adopt) against limit. A frame without
// its segment, a message that is not one size and one descriptor, or a
// descriptor that is not a sealed memfd of the size announced is a
// *protocolError; whatever descriptors came are closed.
func recvSegment(sock *os.File, limit int64) (*shm.Segment, error) {
	rc, err := sock.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("receive segment: %w", err)
	}
	var msg [segmentMsgSize + 1]byte // one more, to see a longer message
	oob := make([]byte, unix.CmsgSpace(4*maxSegmentFds))
	var n, oobn, flags int
	var recvErr error
	if err := rc.Control(func(fd uintptr) {
		for {
			n, oobn, flags, _, recvErr = unix.Recvmsg(int(fd), msg[:], oob, unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
			if recvErr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return nil, fmt.Errorf("receive segment: %w", err)
	}
	if errors.Is(recvErr, unix.EAGAIN) || (recvErr == nil && n == 0 && oobn == 0) {
		return nil, badFrame("announced a segment it did not send")
	}
	if recvErr != nil {
		return nil, fmt.Errorf("receive segment: %w", recvErr)
	}
	fds := parseRights(oob[:oobn])
	closeAll := func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	switch {
	case flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 || n != segmentMsgSize:
		closeAll()
		return nil, badFrame("sent a malformed segment message (%d bytes, flags %#x)", n, flags)
	case len(fds) != 1:
		closeAll()
		return nil, badFrame("sent %d descriptors with a segment message, not 1", len(fds))
	}
	size := binary.LittleEndian.Uint64(msg[:])
	if size > uint64(limit) {
		closeAll()
		return nil, badFrame("announced a %d-byte segment (%s), over the %s limit",
			size, byteSize(size), byteSize(uint64(limit)))
	}
	seg, err := shm.Adopt(fds[0], int64(size), limit)
	if err != nil {
		return nil, badFrame("sent a bad segment: %v", err)
	}
	return seg, nil
}

// maxSegmentFds is how many descriptors a segment message's control
// buffer takes in: more than the one allowed, so that extra ones are
// received (and closed), not left for the kernel to truncate.
const maxSegmentFds = 4

// parseRights returns the descriptors in a control message buffer.
func parseRights(oob []byte) []int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for _, m := range msgs {
		if got, err := unix.ParseUnixRights(&m); err == nil {
			fds = append(fds, got...)
		}
	}
	return fds
}
