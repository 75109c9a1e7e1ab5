package pool

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"
)

// jobFrame writes one job frame and returns its bytes.
func jobFrame(t testing.TB, id, key uint64, source, args []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	if err := writeJobFrame(w, id, key, source, args); err != nil {
		t.Fatalf("writeJobFrame: %v", err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// workerFrame builds a frame as worker.py does: struct.pack("<IBQQ", ...).
func workerFrame(kind byte, id, aux uint64, body []byte) []byte {
	f := binary.LittleEndian.AppendUint32(nil, uint32(frameHeaderSize-4+len(body)))
	f = append(f, kind)
	f = binary.LittleEndian.AppendUint64(f, id)
	f = binary.LittleEndian.AppendUint64(f, aux)
	return append(f, body...)
}

// decodeJob parses a job frame's body the way worker.py does.
func decodeJob(t testing.TB, h frameHeader, body []byte) (source, args []byte, withSource bool) {
	t.Helper()
	switch h.kind {
	case kindJob:
		return nil, body, false
	case kindJobWithSource:
		if len(body) < 4 {
			t.Fatalf("source frame body of %d bytes", len(body))
		}
		n := binary.LittleEndian.Uint32(body)
		if uint64(n) > uint64(len(body)-4) {
			t.Fatalf("source length %d exceeds body %d", n, len(body)-4)
		}
		return body[4 : 4+n], body[4+n:], true
	default:
		t.Fatalf("job frame of kind %d", h.kind)
		return nil, nil, false
	}
}

func TestJobFrameRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		id     uint64
		key    uint64
		source []byte // nil: the worker has it
		args   []byte
		want   byte
	}{
		{"args only", 1, 42, nil, []byte("pickled args"), kindJob},
		{"empty args", 2, 42, nil, nil, kindJob},
		{"with source", 3, 7, []byte("def f(): pass"), []byte("args"), kindJobWithSource},
		{"empty source is still sent", 4, 7, []byte{}, []byte("args"), kindJobWithSource},
		{"source and empty args", 5, 7, []byte("src"), nil, kindJobWithSource},
		{"max ids", ^uint64(0), ^uint64(0), []byte("s"), []byte("a"), kindJobWithSource},
		{"big body", 6, 1, bytes.Repeat([]byte("s"), 100_000), bytes.Repeat([]byte("a"), 200_000), kindJobWithSource},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame := jobFrame(t, tt.id, tt.key, tt.source, tt.args)
			r := bytes.NewReader(frame)
			h, err := readFrameHeader(r)
			if err != nil {
				t.Fatalf("readFrameHeader: %v", err)
			}
			if h.kind != tt.want || h.id != tt.id || h.aux != tt.key {
				t.Fatalf("header %+v, want kind %d id %d aux %d", h, tt.want, tt.id, tt.key)
			}
			if int(h.body) != r.Len() {
				t.Fatalf("header says %d body bytes, frame has %d", h.body, r.Len())
			}
			if got := binary.LittleEndian.Uint32(frame); int(got) != len(frame)-4 {
				t.Fatalf("length field %d, frame is %d bytes after it", got, len(frame)-4)
			}
			body, _ := io.ReadAll(r)
			source, args, withSource := decodeJob(t, h, body)
			if withSource != (tt.source != nil) || !bytes.Equal(source, tt.source) || !bytes.Equal(args, tt.args) {
				t.Fatalf("decoded source %q args %q (withSource %v)", trunc(source), trunc(args), withSource)
			}
		})
	}
}

// Several frames written back to back (writeLoop batches them) read back
// one by one.
func TestJobFramesBackToBack(t *testing.T) {
	var buf bytes.Buffer
	w := bufio.NewWriterSize(&buf, 16) // smaller than a frame: forces partial writes
	type job struct {
		id     uint64
		source []byte
		args   []byte
	}
	jobs := []job{{1, []byte("src"), []byte("a")}, {2, nil, []byte("bb")}, {3, nil, nil}, {4, []byte("x"), nil}}
	for _, j := range jobs {
		if err := writeJobFrame(w, j.id, 9, j.source, j.args); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	for _, j := range jobs {
		h, err := readFrameHeader(&buf)
		if err != nil {
			t.Fatalf("job %d: %v", j.id, err)
		}
		body := make([]byte, h.body)
		if _, err := io.ReadFull(&buf, body); err != nil {
			t.Fatalf("job %d body: %v", j.id, err)
		}
		source, args, _ := decodeJob(t, h, body)
		if h.id != j.id || !bytes.Equal(source, j.source) || !bytes.Equal(args, j.args) {
			t.Fatalf("frame %+v source %q args %q, want %+v", h, source, args, j)
		}
	}
	if _, err := readFrameHeader(&buf); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

func TestReadFrameHeader(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    frameHeader
		wantErr string // substring; "EOF" also matches io.ErrUnexpectedEOF
	}{
		{"ready", workerFrame(kindReady, 4242, 0, nil), frameHeader{kind: kindReady, id: 4242}, ""},
		{"result", workerFrame(kindResult, 7, 1500, []byte("pickle")), frameHeader{kind: kindResult, id: 7, aux: 1500, body: 6}, ""},
		{"unknown kind still parses", workerFrame(99, 1, 2, nil), frameHeader{kind: 99, id: 1, aux: 2}, ""},
		{"largest length", withLength(workerFrame(kindResult, 1, 0, nil), ^uint32(0)),
			frameHeader{kind: kindResult, id: 1, body: ^uint32(0) - (frameHeaderSize - 4)}, ""},
		{"empty input", nil, frameHeader{}, "EOF"},
		{"partial header", workerFrame(kindReady, 1, 0, nil)[:10], frameHeader{}, "unexpected EOF"},
		{"length zero", withLength(workerFrame(kindReady, 1, 0, nil), 0), frameHeader{}, "shorter than its header"},
		{"length one short", withLength(workerFrame(kindReady, 1, 0, nil), frameHeaderSize-5), frameHeader{}, "shorter than its header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := readFrameHeader(bytes.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("readFrameHeader: %v", err)
			}
			if h != tt.want {
				t.Fatalf("header %+v, want %+v", h, tt.want)
			}
		})
	}
	// A clean end of input is io.EOF itself: readLoop tells it from a torn frame.
	if _, err := readFrameHeader(bytes.NewReader(nil)); err != io.EOF {
		t.Errorf("empty input: %v, want io.EOF", err)
	}
	if _, err := readFrameHeader(bytes.NewReader([]byte{1})); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("one byte: %v, want io.ErrUnexpectedEOF", err)
	}
}

func withLength(frame []byte, n uint32) []byte {
	binary.LittleEndian.PutUint32(frame, n)
	return frame
}

// A job too big for the uint32 length is refused before a byte is written.
// The oversized slices are address space only (mmap'd, never touched).
func TestWriteJobFrameTooLarge(t *testing.T) {
	huge, err := syscall.Mmap(-1, 0, MaxFrameBody+1, syscall.PROT_READ,
		syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
	if err != nil {
		t.Skipf("cannot reserve %d bytes of address space: %v", MaxFrameBody+1, err)
	}
	defer syscall.Munmap(huge)
	tests := []struct {
		name         string
		source, args []byte
	}{
		{"args", nil, huge},
		{"source", huge[:MaxFrameBody-3], nil}, // 4 + len(source) = MaxFrameBody + 1
		{"source and args", huge[:MaxFrameBody/2], huge[:MaxFrameBody/2]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := bufio.NewWriter(&buf)
			if err := writeJobFrame(w, 1, 1, tt.source, tt.args); !errors.Is(err, errFrameTooLarge) {
				t.Fatalf("err = %v, want errFrameTooLarge", err)
			}
			if w.Buffered() != 0 || buf.Len() != 0 {
				t.Fatalf("%d bytes written for a refused frame", w.Buffered()+buf.Len())
			}
		})
	}
}

// FuzzReadFrameHeader checks that any input either fails or yields a header
// that re-encodes to the bytes read, with a body length consistent with
// the length field.
func FuzzReadFrameHeader(f *testing.F) {
	f.Add(jobFrame(f, 1, 42, nil, []byte("args")))
	f.Add(jobFrame(f, 2, 7, []byte("def f(): pass"), []byte("args")))
	f.Add(workerFrame(kindReady, 4242, 0, nil))
	f.Add(workerFrame(kindResult, 7, 1500, []byte("\x80\x05N.")))
	f.Add(workerFrame(kindResult, 7, 1500, nil)[:5])
	f.Add(withLength(workerFrame(kindReady, 1, 0, nil), 3))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		h, err := readFrameHeader(bytes.NewReader(in))
		if len(in) < frameHeaderSize {
			if err == nil {
				t.Fatalf("header parsed from %d bytes", len(in))
			}
			return
		}
		n := binary.LittleEndian.Uint32(in)
		if n < frameHeaderSize-4 {
			if err == nil {
				t.Fatalf("length %d accepted", n)
			}
			return
		}
		if err != nil {
			t.Fatalf("valid header refused: %v", err)
		}
		if uint64(h.body)+frameHeaderSize-4 != uint64(n) {
			t.Fatalf("body %d for length %d", h.body, n)
		}
		if re := workerFrame(h.kind, h.id, h.aux, nil); !bytes.Equal(re[4:], in[4:frameHeaderSize]) {
			t.Fatalf("header %+v re-encodes to %x, read from %x", h, re[4:], in[4:frameHeaderSize])
		}
	})
}

// FuzzJobFrameRoundTrip checks that every job frame decodes, as the worker
// decodes it, to what was written.
func FuzzJobFrameRoundTrip(f *testing.F) {
	f.Add(uint64(1), uint64(42), []byte("src"), []byte("args"), true)
	f.Add(uint64(0), uint64(0), []byte{}, []byte{}, false)
	f.Fuzz(func(t *testing.T, id, key uint64, source, args []byte, withSource bool) {
		if !withSource {
			source = nil
		} else if source == nil {
			source = []byte{}
		}
		r := bytes.NewReader(jobFrame(t, id, key, source, args))
		h, err := readFrameHeader(r)
		if err != nil {
			t.Fatal(err)
		}
		if h.id != id || h.aux != key || int(h.body) != r.Len() {
			t.Fatalf("header %+v for id %d key %d, %d body bytes", h, id, key, r.Len())
		}
		body, _ := io.ReadAll(r)
		gotSource, gotArgs, gotWith := decodeJob(t, h, body)
		if gotWith != withSource || !bytes.Equal(gotSource, source) || !bytes.Equal(gotArgs, args) {
			t.Fatalf("decoded source %q args %q, want %q %q", gotSource, gotArgs, source, args)
		}
	})
}

func trunc(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}
