package pool

import (
	"bytes"
	"io"
	"os"
	"syscall"
	"testing"

	"github.com/ppgo/ppgo/core/sched"
)

// writeNow writes a job itself only when that can neither block nor break
// the order of the pipe; every other time it leaves the job to the writer
// goroutine. When it says it wrote, the whole frame is in the pipe.
func TestWriteNowOnlyWhenItCannotBlockOrReorder(t *testing.T) {
	r, pipe, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer pipe.Close()
	f := &sched.Func{Key: 7, Source: []byte("def f(x):\n    return x\n")}
	job := func(id uint64, args []byte) *sched.Job { return &sched.Job{ID: id, Func: f, Args: args} }
	w := &worker{in: make(chan *sched.Job, MaxJobsPerWorker), known: make(map[uint64]bool)}

	refused := func(why string, j *sched.Job) {
		t.Helper()
		if w.writeNow(j) {
			t.Fatalf("writeNow wrote job %d although %s", j.ID, why)
		}
	}
	refused("the process has not started", job(1, []byte("a")))
	if err := w.openJobs(pipe); err != nil {
		t.Fatal(err)
	}
	refused("the worker has yet to be sent the function's source", job(1, []byte("a")))
	w.known[f.Key] = true
	w.unwritten.Add(1)
	refused("a job waits for the writer goroutine", job(1, []byte("a")))
	w.unwritten.Add(-1)
	w.writeMu.Lock()
	refused("the writer goroutine is writing", job(1, []byte("a")))
	w.writeMu.Unlock()
	refused("the frame is over PIPE_BUF", job(1, make([]byte, pipeAtomicWrite)))

	if !w.writeNow(job(3, []byte("xyz"))) {
		t.Fatal("writeNow refused a small job for an idle worker")
	}
	h, err := readFrameHeader(r)
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, h.body)
	if _, err := io.ReadFull(r, body); err != nil {
		t.Fatal(err)
	}
	if h.kind != kindJob || h.id != 3 || h.aux != f.Key || !bytes.Equal(body, []byte("xyz")) {
		t.Fatalf("read kind %d, job %d, key %d, body %q; want a job frame for job 3, key 7, %q",
			h.kind, h.id, h.aux, body, "xyz")
	}

	// A full pipe refuses at once: Dispatch never waits on a worker.
	fill := make([]byte, 64<<10)
	rc, err := pipe.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	for full := false; !full; {
		var werr error
		if err := rc.Control(func(fd uintptr) { _, werr = syscall.Write(int(fd), fill) }); err != nil {
			t.Fatal(err)
		}
		full = werr == syscall.EAGAIN
		if werr != nil && !full {
			t.Fatalf("filling the pipe: %v", werr)
		}
	}
	refused("the pipe is full", job(4, []byte("b")))
}
