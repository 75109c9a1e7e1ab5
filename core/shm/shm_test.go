package shm

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// memfd makes a memfd holding data, sealed with seals.
func memfd(t *testing.T, data string, seals int) int {
	t.Helper()
	fd, err := unix.MemfdCreate("ppgo-test", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Pwrite(fd, []byte(data), 0); err != nil {
		t.Fatal(err)
	}
	if seals != 0 {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
			t.Fatal(err)
		}
	}
	return fd
}

// open reports whether fd is an open descriptor.
func open(fd int) bool {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	return err == nil
}

func TestAdoptChecksWhatItIsGiven(t *testing.T) {
	pipe := func(t *testing.T) int {
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		unix.Close(p[1])
		return p[0]
	}
	tests := []struct {
		name string
		fd   func(t *testing.T) int
		size int64
		want string // "" for accepted
	}{
		{"sealed", func(t *testing.T) int { return memfd(t, "hello", Required) }, 5, ""},
		{"sealed for writes too", func(t *testing.T) int { return memfd(t, "hello", Required|unix.F_SEAL_WRITE) }, 5, ""},
		{"unsealed", func(t *testing.T) int { return memfd(t, "hello", 0) }, 5, "not sealed against resizing"},
		{"may grow", func(t *testing.T) int { return memfd(t, "hello", unix.F_SEAL_SHRINK) }, 5, "not sealed against resizing"},
		{"shorter than announced", func(t *testing.T) int { return memfd(t, "hello", Required) }, 6, "holds 5 bytes, 6 were announced"},
		{"longer than announced", func(t *testing.T) int { return memfd(t, "hello", Required) }, 4, "holds 5 bytes, 4 were announced"},
		{"over the limit", func(t *testing.T) int { return memfd(t, "hello", Required) }, 11, "outside 1..10 bytes"},
		{"empty", func(t *testing.T) int { return memfd(t, "", Required) }, 0, "outside 1..10 bytes"},
		{"a pipe", pipe, 5, "not a memfd segment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fd := tt.fd(t)
			seg, err := Adopt(fd, tt.size, 10)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if got, err := seg.Bytes(); err != nil || string(got) != "hello" {
					t.Errorf("holds %q, %v", got, err)
				}
				seg.Close()
			} else if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Adopt: %v, want an error saying %q", err, tt.want)
			}
			if open(fd) {
				t.Errorf("descriptor %d still open: Adopt owns it, accepted or not", fd)
				unix.Close(fd)
			}
		})
	}
}

func TestAdoptDupLeavesTheCallersDescriptor(t *testing.T) {
	fd := memfd(t, "hello", Required)
	defer unix.Close(fd)
	seg, err := AdoptDup(fd, 5, 10)
	if err != nil {
		t.Fatal(err)
	}
	seg.Close()
	if !open(fd) {
		t.Fatal("AdoptDup closed the caller's descriptor")
	}
}

func TestFromBytesSealsAndCloseIsFinal(t *testing.T) {
	seg, err := FromBytes([]byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := seg.Bytes(); err != nil || string(got) != "payload" {
		t.Fatalf("holds %q, %v", got, err)
	}
	// Sealed: a writable shared mapping is refused.
	if mem, err := seg.Map(true); err == nil {
		Unmap(mem)
		t.Error("a sealed segment mapped writable")
	}
	mem, err := seg.Map(false)
	if err != nil || string(mem) != "payload" {
		t.Fatalf("read-only map: %q, %v", mem, err)
	}
	Unmap(mem)
	dup, err := seg.Dup()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dup)
	other, err := Adopt(dup, 7, 7)
	if err != nil {
		t.Fatalf("a duplicate is not a segment: %v", err)
	}
	defer other.Close()
	if err := seg.Close(); err != nil {
		t.Fatal(err)
	}
	if err := seg.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	ran := false
	if err := seg.Control(func(int) error { ran = true; return nil }); err == nil || ran {
		t.Errorf("Control after Close ran (%v), err %v", ran, err)
	}
	var none *Segment
	if err := none.Close(); err != nil {
		t.Errorf("closing a nil Segment: %v", err)
	}
}
