package pool

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ppgo/ppgo/core/sched"
	"github.com/ppgo/ppgo/core/shm"
)

// pySegment builds a sealed segment in worker.py's layout: a count, an
// (offset, length) per buffer, then the buffers.
func pySegment(t *testing.T, buffers []string) *shm.Segment {
	t.Helper()
	var b []byte
	b = binary.LittleEndian.AppendUint64(b, uint64(len(buffers)))
	offset := 8 + 16*len(buffers)
	for _, s := range buffers {
		b = binary.LittleEndian.AppendUint64(b, uint64(offset))
		b = binary.LittleEndian.AppendUint64(b, uint64(len(s)))
		offset += len(s)
	}
	for _, s := range buffers {
		b = append(b, s...)
	}
	seg, err := shm.Create(int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	mem, err := seg.Map(true)
	if err != nil {
		t.Fatal(err)
	}
	copy(mem, b)
	if err := shm.Unmap(mem); err != nil {
		t.Fatal(err)
	}
	if err := seg.Seal(); err != nil {
		t.Fatal(err)
	}
	return seg
}

// readPySegment returns the buffers in a segment of worker.py's layout
// (nil for no segment).
func readPySegment(t *testing.T, seg *shm.Segment) []string {
	t.Helper()
	if seg == nil {
		return nil
	}
	mem, err := seg.Map(false)
	if err != nil {
		t.Fatal(err)
	}
	defer shm.Unmap(mem)
	n := binary.LittleEndian.Uint64(mem)
	out := []string{}
	for i := range n {
		entry := mem[8+16*i:]
		off, size := binary.LittleEndian.Uint64(entry), binary.LittleEndian.Uint64(entry[8:])
		out = append(out, string(mem[off:off+size]))
	}
	return out
}

// pyEcho runs the real python/pp/worker.py with only Worker.execute
// replaced: the job reply says which frame kind, key, source, args and
// out-of-band buffers the worker decoded, and sends those buffers back in
// a segment of its own. It checks that Go's framing and segments and the
// worker's agree.
const pyEcho = `
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("ppworker", sys.argv[1])
w = importlib.util.module_from_spec(spec)
spec.loader.exec_module(w)
read_frame = w.Worker.read_frame
def recording_read_frame(self):
    frame = read_frame(self)
    self.last_kind = frame and frame[0]
    return frame
def execute(self, key, args, buffers):
    buffers = [bytes(b) for b in buffers or []]
    return json.dumps({"kind": self.last_kind, "key": key,
                       "source": self.sources[key].decode(),
                       "args": bytes(args).decode(),
                       "buffers": [b.decode() for b in buffers]}).encode(), \
        [memoryview(b) for b in buffers]
w.Worker.read_frame = recording_read_frame
w.Worker.execute = execute
w.Worker(2).run()
`

func TestPoolPythonWorker(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	worker, err := filepath.Abs("../../python/pp/worker.py")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(worker); err != nil {
		t.Skipf("worker.py: %v", err)
	}
	rep := &fakeReporter{ch: make(chan report, 16)}
	p, err := New(Config{Argv: []string{python, "-c", pyEcho, worker}, Env: os.Environ(), Workers: 1}, rep)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	h := &harness{t: t, p: p, rep: rep}

	big := strings.Repeat("x", 200_000) // above worker.py's SMALL_BODY: header and body written apart
	steps := []struct {
		key     uint64
		args    string
		buffers []string // out of band, in a segment
		kind    byte
	}{
		{1, "first", nil, kindJobWithSource},
		{1, "second", nil, kindJob},
		{2, "other key", nil, kindJobWithSource},
		{1, big, nil, kindJob},
		{3, "", nil, kindJobWithSource},
		{1, "with a segment", []string{"one", big, ""}, kindJob | withSegment},
		{4, "source and segment", []string{"two"}, kindJobWithSource | withSegment},
		{1, "after segments", nil, kindJob},
	}
	var jobs []*sched.Job
	for _, s := range steps {
		j := &sched.Job{
			ID: uint64(len(jobs) + 1), Func: &sched.Func{Key: s.key, Source: []byte(sourceOf(s.key))},
			Args: []byte(s.args),
		}
		if s.buffers != nil {
			j.Segment = pySegment(t, s.buffers)
		}
		jobs = append(jobs, j)
		p.Dispatch(j)
	}
	for i, s := range steps {
		r := h.next()
		if r.job != jobs[i] {
			t.Fatalf("outcome for job %d, want %d", r.job.ID, jobs[i].ID)
		}
		if r.out.Lost != nil {
			t.Fatalf("job %d lost: %v", r.job.ID, r.out.Lost)
		}
		var got struct {
			Kind    byte     `json:"kind"`
			Key     uint64   `json:"key"`
			Source  string   `json:"source"`
			Args    string   `json:"args"`
			Buffers []string `json:"buffers"`
		}
		if err := json.Unmarshal(r.out.Data, &got); err != nil {
			t.Fatalf("job %d: reply %q: %v", r.job.ID, trunc(r.out.Data), err)
		}
		if got.Kind != s.kind || got.Key != s.key || got.Source != sourceOf(s.key) || got.Args != s.args {
			t.Errorf("job %d: worker decoded kind %d key %d source %q args %q; want kind %d key %d args %q",
				r.job.ID, got.Kind, got.Key, got.Source, trunc([]byte(got.Args)), s.kind, s.key, trunc([]byte(s.args)))
		}
		if !slices.Equal(got.Buffers, s.buffers) && len(got.Buffers)+len(s.buffers) > 0 {
			t.Errorf("job %d: worker mapped %d buffers, want %d", r.job.ID, len(got.Buffers), len(s.buffers))
		}
		switch back := readPySegment(t, r.out.Segment); {
		case s.buffers == nil && r.out.Segment != nil:
			t.Errorf("job %d: a result segment for a job without one", r.job.ID)
		case !slices.Equal(back, s.buffers):
			t.Errorf("job %d: result segment holds %d buffers, want the %d sent", r.job.ID, len(back), len(s.buffers))
		}
		r.out.Segment.Close()
		if r.out.Elapsed <= 0 {
			t.Errorf("job %d: Elapsed %v", r.job.ID, r.out.Elapsed)
		}
	}
}
