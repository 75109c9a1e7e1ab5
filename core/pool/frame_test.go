package pool

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// jobFrame writes one job frame and returns its bytes.
func jobFrame(t testing.TB, id, key uint64, source, args []byte) []byte {
	t.Helper()
	return jobFrameWith(t, id, key, source, args, false)
}

// jobFrameWith writes one job frame, announcing a segment or not.
func jobFrameWith(t testing.TB, id, key uint64, source, args []byte, segment bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	if err := writeJobFrame(w, id, key, source, args, segment); err != nil {
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
		if err := writeJobFrame(w, j.id, 9, j.source, j.args, false); err != nil {
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
			if err := writeJobFrame(w, 1, 1, tt.source, tt.args, false); !errors.Is(err, errFrameTooLarge) {
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
	f.Add(workerFrame(kindResult|withSegment, 7, 1500, []byte("\x80\x05N.")))
	f.Add(workerFrame(kindReady|withSegment, 1, 0, nil))
	f.Add(jobFrameWith(f, 3, 7, nil, []byte("args"), true))
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
		kind := h.kind
		if h.segment {
			kind |= withSegment
		}
		if h.kind&withSegment != 0 {
			t.Fatalf("header %+v keeps the segment flag in its kind", h)
		}
		if re := workerFrame(kind, h.id, h.aux, nil); !bytes.Equal(re[4:], in[4:frameHeaderSize]) {
			t.Fatalf("header %+v re-encodes to %x, read from %x", h, re[4:], in[4:frameHeaderSize])
		}
	})
}

// FuzzJobFrameRoundTrip checks that every job frame decodes, as the worker
// decodes it, to what was written.
func FuzzJobFrameRoundTrip(f *testing.F) {
	f.Add(uint64(1), uint64(42), []byte("src"), []byte("args"), true, false)
	f.Add(uint64(0), uint64(0), []byte{}, []byte{}, false, true)
	f.Fuzz(func(t *testing.T, id, key uint64, source, args []byte, withSource, segment bool) {
		if !withSource {
			source = nil
		} else if source == nil {
			source = []byte{}
		}
		r := bytes.NewReader(jobFrameWith(t, id, key, source, args, segment))
		h, err := readFrameHeader(r)
		if err != nil {
			t.Fatal(err)
		}
		if h.id != id || h.aux != key || int(h.body) != r.Len() || h.segment != segment {
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

// checkWorkerHeader takes what a worker sends, up to each kind's limit,
// and nothing else.
func TestCheckWorkerHeader(t *testing.T) {
	const limit = 1000
	tests := []struct {
		name string
		h    frameHeader
		want string // substring of the error; "" for none
	}{
		{"ready", frameHeader{kind: kindReady, id: 42}, ""},
		{"ready with a body", frameHeader{kind: kindReady, body: 1}, "READY frame with a 1-byte body"},
		{"empty result", frameHeader{kind: kindResult, id: 1}, ""},
		{"result at the limit", frameHeader{kind: kindResult, body: limit}, ""},
		{"result over the limit", frameHeader{kind: kindResult, body: limit + 1},
			"announced a 1001-byte result (1001 bytes), over the 1000 bytes limit"},
		{"largest length", frameHeader{kind: kindResult, body: ^uint32(0) - (frameHeaderSize - 4)}, "(4 GiB), over"},
		{"job", frameHeader{kind: kindJob}, "sent a frame of kind 1, not one a worker sends"},
		{"job with source", frameHeader{kind: kindJobWithSource}, "kind 2"},
		{"kind zero", frameHeader{kind: 0}, "kind 0"},
		{"kind 99", frameHeader{kind: 99}, "kind 99"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkWorkerHeader(tt.h, limit)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("%+v refused: %v", tt.h, err)
				}
				return
			}
			var bad *protocolError
			if !errors.As(err, &bad) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("%+v: err = %v, want a protocolError containing %q", tt.h, err, tt.want)
			}
		})
	}
}

// A body is allocated as its bytes arrive: a header that lies about its
// length costs a few times what was sent (the buffer doubles), not what
// was announced.
func TestReadBody(t *testing.T) {
	tests := []struct {
		name      string
		announced int
		sent      int
		wantErr   error
	}{
		{"empty", 0, 0, nil},
		{"small", 100, 100, nil},
		{"one chunk", bodyChunk, bodyChunk, nil},
		{"grows", 3*bodyChunk + 17, 3*bodyChunk + 17, nil},
		{"short", 100, 99, io.ErrUnexpectedEOF},
		{"nothing sent", 100, 0, io.ErrUnexpectedEOF},
		{"lies by a gigabyte", 1 << 30, 10, io.ErrUnexpectedEOF},
		{"lies past a chunk", 1 << 30, 2*bodyChunk + 1, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := make([]byte, tt.sent)
			for i := range in {
				in[i] = byte(i * 7)
			}
			before := allocated()
			body, err := readBody(bytes.NewReader(in), tt.announced)
			if n, most := allocated()-before, uint64(4*tt.sent+bodyChunk+64<<10); n > most {
				t.Errorf("allocated %d bytes for %d sent, want at most %d", n, tt.sent, most)
			}
			if err != tt.wantErr {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && (!bytes.Equal(body, in) || cap(body) != len(in) || body == nil) {
				t.Fatalf("body of %d bytes (cap %d), want the %d sent", len(body), cap(body), len(in))
			}
		})
	}
}

func TestByteSize(t *testing.T) {
	for n, want := range map[uint64]string{
		0: "0 bytes", 1023: "1023 bytes", 1024: "1 KiB", 1536: "1.5 KiB", 1 << 20: "1 MiB",
		DefaultMaxResult: "1 GiB", 1802401113: "1.7 GiB", MaxFrameBody: "4 GiB", 5 << 40: "5 TiB",
	} {
		if got := byteSize(n); got != want {
			t.Errorf("byteSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// allocated is the number of bytes this process has allocated so far.
func allocated() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

// FuzzReadWorkerFrame feeds the pool's reader whatever a worker (or a job
// writing to its pipe) might send. Each frame it returns must be one a
// worker may send and re-encode to the bytes it consumed; anything else
// must end in io.EOF (only between frames), io.ErrUnexpectedEOF or a
// protocolError; and no input may make it allocate much more than its
// own size, whatever its headers announce.
func FuzzReadWorkerFrame(f *testing.F) {
	ready := workerFrame(kindReady, 4242, 0, nil)
	result := workerFrame(kindResult, 7, 1500, []byte("\x80\x05\x95\x0b\x00N\x8c\x00\x86\x94."))
	seeds := [][]byte{
		ready,
		result,
		append(append([]byte{}, ready...), result...),
		workerFrame(kindResult, 8, 0, nil),
		append([]byte("junk"), result...),                 // a job wrote "junk" first
		append(append([]byte{}, result[:9]...), ready...), // a frame cut short
		withLength(workerFrame(kindResult, 1, 0, nil), 0x6b6e756a),
		withLength(workerFrame(kindResult, 1, 0, nil), ^uint32(0)),
		workerFrame(kindReady, 1, 0, []byte("body")),
		workerFrame(99, 1, 2, nil),
		workerFrame(kindJob, 1, 2, []byte("args")),
		withLength(workerFrame(kindReady, 1, 0, nil), 3),
		workerFrame(kindResult|withSegment, 7, 1500, []byte("\x80\x05N.")),
		workerFrame(kindReady|withSegment, 1, 0, nil),
		{},
	}
	for _, s := range seeds {
		f.Add(s, uint32(DefaultMaxResult))
	}
	f.Add(result, uint32(4))
	f.Fuzz(func(t *testing.T, in []byte, maxResult uint32) {
		r := bytes.NewReader(in)
		for {
			at := len(in) - r.Len()
			before := allocated()
			h, body, err := readWorkerFrame(r, maxResult)
			if n, most := allocated()-before, uint64(4*len(in)+bodyChunk+64<<10); n > most {
				t.Fatalf("reading a %d-byte input allocated %d bytes", len(in), n)
			}
			var bad *protocolError
			switch {
			case err == io.EOF:
				if at != len(in) {
					t.Fatalf("io.EOF with %d bytes left", len(in)-at)
				}
				return
			case errors.Is(err, io.ErrUnexpectedEOF), errors.As(err, &bad):
				return
			case err != nil:
				t.Fatalf("undocumented error %v", err)
			}
			if h.kind != kindReady && h.kind != kindResult ||
				h.kind == kindReady && (len(body) != 0 || h.segment) || uint64(len(body)) > uint64(maxResult) {
				t.Fatalf("accepted %+v with a %d-byte body (limit %d)", h, len(body), maxResult)
			}
			read := in[at : len(in)-r.Len()]
			kind := h.kind
			if h.segment {
				kind |= withSegment
			}
			if re := workerFrame(kind, h.id, h.aux, body); !bytes.Equal(re, read) {
				t.Fatalf("frame %+v re-encodes to %x, read from %x", h, re, read)
			}
		}
	})
}
