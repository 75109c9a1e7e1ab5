// Package shm holds the shared-memory segments that carry a job's large
// buffers (its out-of-band pickle buffers) between processes: anonymous
// memfd files, passed by descriptor, never named in /dev/shm, so nothing
// outlives the last process that holds one.
//
// A Segment is only ever trusted sealed: its size can no longer change
// (F_SEAL_SHRINK, F_SEAL_GROW), so a process that maps it cannot be killed
// by SIGBUS when another truncates it, and one that reads it gets the
// bytes that were announced. The layout inside is the Python side's
// (python/pp/worker.py): Go only moves segments and checks their seals and
// size.
package shm

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Required are the seals a segment must carry before it is trusted: its
// size is fixed. Writers also add F_SEAL_WRITE, which the readers do not
// depend on (they map segments copy-on-write).
const Required = unix.F_SEAL_SHRINK | unix.F_SEAL_GROW

// Segment is one sealed memfd of a known size. It is safe for concurrent
// use: Close may race a Control, which then fails instead of acting on a
// descriptor number the process has reused.
type Segment struct {
	f    *os.File
	size int64
}

// Adopt takes ownership of fd, a segment another process made, after
// checking that it is a sealed memfd of exactly size bytes (at most
// limit). On error fd is closed, so a hostile sender cannot leak
// descriptors into the caller.
func Adopt(fd int, size, limit int64) (*Segment, error) {
	f := os.NewFile(uintptr(fd), "ppgo-segment")
	if f == nil {
		return nil, fmt.Errorf("shm: invalid descriptor %d", fd)
	}
	if err := check(fd, size, limit); err != nil {
		f.Close()
		return nil, err
	}
	return &Segment{f: f, size: size}, nil
}

// AdoptDup is Adopt on a duplicate of fd, which stays the caller's.
func AdoptDup(fd int, size, limit int64) (*Segment, error) {
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("shm: duplicate segment descriptor %d: %w", fd, err)
	}
	return Adopt(dup, size, limit)
}

func check(fd int, size, limit int64) error {
	if size <= 0 || size > limit {
		return fmt.Errorf("shm: a %d-byte segment, outside 1..%d bytes", size, limit)
	}
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	if err != nil {
		// EINVAL: not a memfd (a pipe, a file, a socket).
		return fmt.Errorf("shm: descriptor is not a memfd segment: %w", err)
	}
	if seals&Required != Required {
		return fmt.Errorf("shm: segment is not sealed against resizing (seals %#x)", seals)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("shm: stat segment: %w", err)
	}
	if st.Size != size {
		return fmt.Errorf("shm: segment holds %d bytes, %d were announced", st.Size, size)
	}
	return nil
}

// Create makes a writable segment of size bytes for the caller to fill
// (Map) and then Seal.
func Create(size int64) (*Segment, error) {
	if size <= 0 {
		return nil, fmt.Errorf("shm: cannot create a %d-byte segment", size)
	}
	fd, err := unix.MemfdCreate("ppgo", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("shm: memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "ppgo-segment")
	if err := unix.Ftruncate(fd, size); err != nil {
		f.Close()
		return nil, fmt.Errorf("shm: size a %d-byte segment: %w", size, err)
	}
	return &Segment{f: f, size: size}, nil
}

// FromBytes makes a sealed segment holding a copy of b (a segment's bytes
// that came over the network).
func FromBytes(b []byte) (*Segment, error) {
	seg, err := Create(int64(len(b)))
	if err != nil {
		return nil, err
	}
	if err := seg.Control(func(fd int) error { return pwriteAll(fd, b) }); err != nil {
		seg.Close()
		return nil, err
	}
	if err := seg.Seal(); err != nil {
		seg.Close()
		return nil, err
	}
	return seg, nil
}

// pwriteAll writes b at the start of fd: the kernel fills a fresh
// segment's pages faster than page faults on a mapping would.
func pwriteAll(fd int, b []byte) error {
	for off := 0; off < len(b); {
		n, err := unix.Pwrite(fd, b[off:], int64(off))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("shm: fill segment: %w", err)
		}
		off += n
	}
	return nil
}

// Bytes returns a copy of the segment's contents.
func (s *Segment) Bytes() ([]byte, error) {
	b := make([]byte, s.size)
	err := s.Control(func(fd int) error {
		for off := 0; off < len(b); {
			n, err := unix.Pread(fd, b[off:], int64(off))
			switch {
			case err == unix.EINTR:
				continue
			case err != nil:
				return fmt.Errorf("shm: read segment: %w", err)
			case n == 0:
				return fmt.Errorf("shm: segment ended at %d of its %d bytes", off, len(b))
			}
			off += n
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// Seal fixes the segment's size and contents: call it once it is filled
// and every writable mapping of it is gone.
func (s *Segment) Seal() error {
	return s.Control(func(fd int) error {
		_, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS,
			Required|unix.F_SEAL_WRITE|unix.F_SEAL_SEAL)
		if err != nil {
			return fmt.Errorf("shm: seal segment: %w", err)
		}
		return nil
	})
}

// Size is the segment's length in bytes.
func (s *Segment) Size() int64 { return s.size }

// Control runs fn on the segment's descriptor, which stays open (and its
// number unused by anything else) while fn runs.
func (s *Segment) Control(fn func(fd int) error) error {
	rc, err := s.f.SyscallConn()
	if err != nil {
		return fmt.Errorf("shm: segment: %w", err)
	}
	var fnErr error
	if err := rc.Control(func(fd uintptr) { fnErr = fn(int(fd)) }); err != nil {
		return fmt.Errorf("shm: segment: %w", err)
	}
	return fnErr
}

// Dup returns a new close-on-exec descriptor of the segment for the
// caller to own (a client that maps it, say).
func (s *Segment) Dup() (int, error) {
	var dup int
	err := s.Control(func(fd int) error {
		var err error
		dup, err = unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return -1, fmt.Errorf("shm: duplicate segment: %w", err)
	}
	return dup, nil
}

// Map maps the segment: read-only, or writable before it is sealed. The
// caller unmaps it with Unmap.
func (s *Segment) Map(writable bool) ([]byte, error) {
	prot := unix.PROT_READ
	if writable {
		prot |= unix.PROT_WRITE
	}
	var mem []byte
	err := s.Control(func(fd int) error {
		var err error
		mem, err = unix.Mmap(fd, 0, int(s.size), prot, unix.MAP_SHARED)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("shm: map a %d-byte segment: %w", s.size, err)
	}
	return mem, nil
}

// Unmap releases a mapping Map returned.
func Unmap(mem []byte) error { return unix.Munmap(mem) }

// Close frees the caller's hold on the segment; the memory goes once no
// process holds or maps it. Closing a nil Segment does nothing.
func (s *Segment) Close() error {
	if s == nil {
		return nil
	}
	if err := s.f.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("shm: close segment: %w", err)
	}
	return nil
}
