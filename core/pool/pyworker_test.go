package pool

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ppgo/ppgo/core/sched"
)

// pyEcho runs the real python/pp/worker.py with only Worker.execute
// replaced: the job reply says which frame kind, key, source and args the
// worker decoded. It checks that Go's framing and the worker's agree.
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
def execute(self, key, args):
    return json.dumps({"kind": self.last_kind, "key": key,
                       "source": self.sources[key].decode(),
                       "args": bytes(args).decode()}).encode()
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
		key  uint64
		args string
		kind byte
	}{
		{1, "first", kindJobWithSource},
		{1, "second", kindJob},
		{2, "other key", kindJobWithSource},
		{1, big, kindJob},
		{3, "", kindJobWithSource},
	}
	var jobs []*sched.Job
	for _, s := range steps {
		jobs = append(jobs, &sched.Job{
			ID: uint64(len(jobs) + 1), Func: &sched.Func{Key: s.key, Source: []byte(sourceOf(s.key))},
			Args: []byte(s.args),
		})
		p.Dispatch(jobs[len(jobs)-1])
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
			Kind   byte   `json:"kind"`
			Key    uint64 `json:"key"`
			Source string `json:"source"`
			Args   string `json:"args"`
		}
		if err := json.Unmarshal(r.out.Data, &got); err != nil {
			t.Fatalf("job %d: reply %q: %v", r.job.ID, trunc(r.out.Data), err)
		}
		if got.Kind != s.kind || got.Key != s.key || got.Source != sourceOf(s.key) || got.Args != s.args {
			t.Errorf("job %d: worker decoded kind %d key %d source %q args %q; want kind %d key %d args %q",
				r.job.ID, got.Kind, got.Key, got.Source, trunc([]byte(got.Args)), s.kind, s.key, trunc([]byte(s.args)))
		}
		if r.out.Elapsed <= 0 {
			t.Errorf("job %d: Elapsed %v", r.job.ID, r.out.Elapsed)
		}
	}
}
