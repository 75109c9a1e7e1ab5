package pool

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ppgo/ppgo/core/sched"
	"github.com/ppgo/ppgo/core/shm"
)

// The life of one worker process: spawn, the writer and reader goroutines
// on its pipes, and what happens when it exits.

// worker is one worker process and the jobs it holds.
type worker struct {
	in chan *sched.Job // closed to make the worker exit once idle
	// unwritten counts the jobs sent on in that the writer goroutine has
	// yet to write: a direct write (writeNow) must not overtake them.
	unwritten atomic.Int32

	// The writing end of the job pipe, shared by the writer goroutine and
	// writeNow. Guarded by writeMu, which is taken after Pool.mu, never
	// before it, and only with TryLock while Pool.mu is held.
	writeMu  sync.Mutex
	jobs     *os.File        // nil until the process starts, and once the writer ends
	jobsConn syscall.RawConn // jobs' descriptor, for writeNow's one syscall
	known    map[uint64]bool // function keys whose source the worker has been sent
	scratch  []byte          // writeNow's frame

	// Guarded by Pool.mu.
	proc      *os.Process
	inflight  []*sched.Job // in the order the worker runs them
	headSince time.Time    // when inflight[0] started, roughly
	runtime   average      // of this worker's jobs
	retiring  bool         // in is closed; no new jobs
	ready     bool
	clock     *time.Timer // runs out when inflight[0] has run past its Timeout
	expired   *sched.Job  // the job whose timeout had this worker killed
}

// spawnLocked adds a worker at once (so jobs can be assigned to it) and
// starts its process on a goroutine: a process must never be forked from a
// thread that may exit, since Pdeathsig fires when the forking thread dies.
func (p *Pool) spawnLocked() {
	w := &worker{in: make(chan *sched.Job, MaxJobsPerWorker), known: make(map[uint64]bool)}
	p.workers = append(p.workers, w)
	p.takeBacklogLocked(w)
	p.running.Add(1)
	delay := p.backoff
	go func() {
		defer p.running.Done()
		if delay > 0 {
			timer := time.NewTimer(delay)
			defer timer.Stop()
			select {
			case <-timer.C:
			case <-p.closing:
				p.exited(w, errPoolClosed)
				return
			}
		}
		p.run(w)
	}()
}

// run starts w's process and serves it until it exits.
//
// The pool learns that a worker died from the process itself (its Wait,
// on a pidfd), not from the end of its results pipe: a child a job forked
// may hold that pipe open long after the worker is gone. Once the process
// has exited, what it wrote is in the pipe; the reader takes that and
// stops, whoever else still holds the pipe. (Wait holds an OS thread per
// live worker, a cost Go's runtime bears well for pools of hundreds.)
func (p *Pool) run(w *worker) {
	jobs, results, segments, err := p.start(w)
	if err != nil {
		p.exited(w, err)
		return
	}
	var state *os.ProcessState
	var waitErr error
	gone := make(chan struct{})
	go func() {
		state, waitErr = w.proc.Wait()
		// Wake the reader and the writer wherever they wait on the pipes
		// (see exitedReader); close(gone) publishes state and waitErr.
		_ = results.SetReadDeadline(time.Now())
		_ = jobs.SetWriteDeadline(time.Now())
		close(gone)
	}()
	if err := w.openJobs(jobs); err != nil {
		p.kill(w)
	}
	go p.writeLoop(w, jobs, segments)
	readErr := p.readLoop(w, &exitedReader{f: results}, segments)
	var bad *protocolError
	if !errors.As(readErr, &bad) && (readErr == nil || errors.Is(readErr, io.ErrUnexpectedEOF)) {
		// The pipe ended: the worker is exiting, or some code closed its
		// end of the pipe and it lives on, unable to report its jobs.
		select {
		case <-gone:
		case <-time.After(eofGrace):
			bad = &protocolError{fmt.Sprintf("ended its results pipe but did not exit within %v", eofGrace)}
		}
	}
	p.kill(w) // a broken worker's end; a no-op once the process has exited
	<-gone
	results.Close()
	segments.Close() // and with it any segment the worker sent and no frame claimed
	pid := w.proc.Pid
	switch {
	case bad != nil:
		// The worker was killed for it: its exit would only say "SIGKILL".
		p.exited(w, fmt.Errorf("worker process %d %w", pid, bad))
	case readErr != nil && !errors.Is(readErr, io.ErrUnexpectedEOF):
		p.exited(w, fmt.Errorf("worker process %d: %w", pid, readErr))
	case waitErr != nil:
		p.exited(w, fmt.Errorf("worker process %d: %w", pid, waitErr))
	default:
		p.exited(w, fmt.Errorf("worker process %d %s", pid, describeExit(state)))
	}
}

// exitedReader reads a worker's results pipe. Once the worker process has
// exited, run sets a read deadline in the past, which ends any wait for
// more; from then on it reads only what is in the pipe already, at most
// the pipe's capacity (all a dead worker can have left there), and then
// reports the end of input (io.EOF), even while another process holds the
// pipe's write end, or keeps writing to it.
type exitedReader struct {
	f      *os.File
	exited bool
	left   int // of what the dead worker may have left in the pipe
}

func (r *exitedReader) Read(b []byte) (int, error) {
	if !r.exited {
		n, err := r.f.Read(b)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
		r.exited, r.left = true, pipeBufferSize
	}
	if len(b) == 0 {
		return 0, nil
	}
	if r.left == 0 {
		return 0, io.EOF
	}
	b = b[:min(len(b), r.left)]
	rc, err := r.f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var readErr error
	// Control, not Read: RawConn.Read also refuses once the deadline has
	// passed. The descriptor is non-blocking, so this read never waits.
	if err := rc.Control(func(fd uintptr) {
		for {
			n, readErr = syscall.Read(int(fd), b)
			if readErr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return 0, err
	}
	switch {
	case readErr == syscall.EAGAIN || (readErr == nil && n == 0):
		return 0, io.EOF
	case readErr != nil:
		return 0, fmt.Errorf("read results pipe: %w", readErr)
	}
	r.left -= n
	return n, nil
}

// start launches the worker interpreter with its two pipes and its
// segment socket, or takes a spare started before the pool.
func (p *Pool) start(w *worker) (jobs, results, segments *os.File, err error) {
	p.mu.Lock()
	s := p.takeSpareLocked() // none once closed: Close discards them
	if s != nil {
		w.proc = s.proc
	}
	p.mu.Unlock()
	if s != nil {
		return s.jobs, s.results, s.segments, nil
	}
	jobsR, jobsW, err := os.Pipe()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("start worker: jobs pipe: %w", err)
	}
	resultsR, resultsW, err := os.Pipe()
	if err != nil {
		jobsR.Close()
		jobsW.Close()
		return nil, nil, nil, fmt.Errorf("start worker: results pipe: %w", err)
	}
	segments, theirSegments, err := newSegmentSocket()
	if err != nil {
		jobsR.Close()
		jobsW.Close()
		resultsR.Close()
		resultsW.Close()
		return nil, nil, nil, fmt.Errorf("start worker: %w", err)
	}
	growPipe(jobsW)
	growPipe(resultsW)
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		jobsR.Close()
		jobsW.Close()
		resultsR.Close()
		resultsW.Close()
		segments.Close()
		theirSegments.Close()
		return nil, nil, nil, errPoolClosed
	}
	cmd := exec.Command(p.cfg.Argv[0], p.cfg.Argv[1:]...)
	cmd.Env = p.cfg.Env
	cmd.Dir = p.cfg.Dir
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	cmd.ExtraFiles = []*os.File{jobsR, resultsW, theirSegments} // fds 3, 4 and 5
	// A worker must not outlive its client, even one killed with SIGKILL.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	jobsR.Close()
	resultsW.Close()
	theirSegments.Close()
	if err != nil {
		jobsW.Close()
		resultsR.Close()
		segments.Close()
		return nil, nil, nil, fmt.Errorf("start worker %s: %w", p.cfg.Argv[0], err)
	}
	p.mu.Lock()
	w.proc = cmd.Process
	if p.closed {
		_ = w.proc.Kill()
	}
	p.mu.Unlock()
	return jobsW, resultsR, segments, nil
}

// openJobs makes the job pipe available to writeNow.
func (w *worker) openJobs(jobs *os.File) error {
	rc, err := jobs.SyscallConn()
	if err != nil {
		return fmt.Errorf("job pipe: %w", err)
	}
	w.writeMu.Lock()
	w.jobs, w.jobsConn = jobs, rc
	w.writeMu.Unlock()
	return nil
}

// writeNow writes j to w's job pipe from the calling goroutine and reports
// whether it did. It does only when that takes one non-blocking syscall
// and nothing else: the writer goroutine is idle (TryLock) with no job
// left to write, the worker has j's function already, j has no segment to
// send ahead of it, and the frame fits in one atomic pipe write, which the
// pipe either takes whole or refuses.
// Otherwise the caller hands j to the writer goroutine, which also meets
// and handles whatever error the pipe has.
func (w *worker) writeNow(j *sched.Job) bool {
	if !w.writeMu.TryLock() {
		return false
	}
	defer w.writeMu.Unlock()
	if w.jobs == nil || w.unwritten.Load() != 0 || !w.known[j.Func.Key] || j.Segment != nil ||
		frameHeaderSize+len(j.Args) > pipeAtomicWrite {
		return false
	}
	frame := appendJobFrame(w.scratch[:0], j.ID, j.Func.Key, j.Args)
	w.scratch = frame
	var n int
	var writeErr error
	err := w.jobsConn.Control(func(fd uintptr) {
		for {
			n, writeErr = syscall.Write(int(fd), frame)
			if writeErr != syscall.EINTR {
				return
			}
		}
	})
	return err == nil && writeErr == nil && n == len(frame)
}

// writeLoop sends w the jobs that come on w.in, batching those that queue
// up into one write, and sends a function's source only the first time w
// sees its key. A job's segment goes on the segment socket ahead of its
// frame.
func (p *Pool) writeLoop(w *worker, jobs, segments *os.File) {
	defer jobs.Close()
	bw := bufio.NewWriterSize(jobs, 64<<10)
	write := func(j *sched.Job) error { // with w.writeMu held
		var source []byte
		if !w.known[j.Func.Key] {
			source = j.Func.Source
			w.known[j.Func.Key] = true
		}
		if j.Segment != nil {
			if err := sendSegment(segments, j.Segment); err != nil {
				return err
			}
		}
		return writeJobFrame(bw, j.ID, j.Func.Key, source, j.Args, j.Segment != nil)
	}
	var err error
	for j := range w.in {
		w.writeMu.Lock()
		written := int32(1)
		err = write(j)
		for more := err == nil; more; {
			select {
			case j, ok := <-w.in:
				if !ok {
					more = false
					break
				}
				written++
				err = write(j)
				more = err == nil
			default:
				more = false
			}
		}
		if err == nil {
			err = bw.Flush()
		}
		w.unwritten.Add(-written)
		w.writeMu.Unlock()
		if err != nil {
			break
		}
	}
	w.writeMu.Lock()
	w.jobs, w.jobsConn = nil, nil // writeNow writes no more: jobs closes below
	w.writeMu.Unlock()
	if err != nil {
		// The worker is gone (run's write deadline woke a write that a
		// job's child kept from failing) or the job cannot be framed; run
		// reports w's jobs as lost once the process exits. Kill it so that
		// happens even if it is stuck, then drain so Dispatch never blocks.
		p.mu.Lock()
		if w.proc != nil {
			_ = w.proc.Kill()
		}
		p.mu.Unlock()
		for range w.in {
		}
	}
}

// readLoop handles w's frames until its results pipe ends; a clean end
// returns nil. A frame that breaks the protocol is a *protocolError.
func (p *Pool) readLoop(w *worker, results io.Reader, segments *os.File) error {
	br := bufio.NewReaderSize(results, 64<<10)
	for {
		h, body, err := readWorkerFrame(br, uint32(p.cfg.MaxResult))
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		var seg *shm.Segment
		if h.segment {
			if seg, err = recvSegment(segments, int64(p.cfg.MaxResult)); err != nil {
				return err
			}
		}
		switch h.kind {
		case kindReady:
			p.mu.Lock()
			w.ready = true
			p.backoff = 0
			p.startClockLocked(w) // a job handed over before now starts now
			p.mu.Unlock()
		case kindResult:
			if err := p.finish(w, h.id, body, seg, time.Duration(h.aux)); err != nil {
				seg.Close()
				return err
			}
		}
	}
}

// finish hands a result to the reporter, after making sure the pool has a
// worker for the next job (a replacement when restarting after every job).
func (p *Pool) finish(w *worker, id uint64, data []byte, seg *shm.Segment, elapsed time.Duration) error {
	p.mu.Lock()
	if len(w.inflight) == 0 || w.inflight[0].ID != id {
		p.mu.Unlock()
		return badFrame("sent a result for job %d, which it was not running", id)
	}
	j := w.inflight[0]
	w.inflight = slices.Delete(w.inflight, 0, 1)
	w.headSince = time.Now() // the next job, if any, starts now
	p.startClockLocked(w)
	if p.cfg.Restart && !w.retiring && !p.closed {
		p.retireLocked(w)
		p.spawnLocked()
	}
	changed := p.timeJobLocked(w, elapsed)
	p.takeBacklogLocked(w)
	p.mu.Unlock()
	if changed {
		p.publishCapacity()
	}
	p.rep.Finish(p, j, sched.Outcome{Data: data, Segment: seg, Elapsed: elapsed})
	return nil
}

// exited removes a worker whose process is gone, replaces it if the pool
// still wants it, and reports the jobs it held as lost, or, for the one
// whose timeout had it killed, as timed out.
func (p *Pool) exited(w *worker, cause error) {
	p.mu.Lock()
	p.workers = slices.DeleteFunc(p.workers, func(o *worker) bool { return o == w })
	wasRetiring := w.retiring
	p.retireLocked(w)
	lost := w.inflight
	w.inflight = nil
	if w.clock != nil {
		w.clock.Stop()
	}
	expired, pid := w.expired, 0
	if expired != nil {
		// Not "killed by SIGKILL": say who had it killed, and why.
		pid = w.proc.Pid
		cause = fmt.Errorf("worker process %d was killed: job %d ran longer than its %v timeout",
			pid, expired.ID, expired.Timeout)
	}
	if !p.closed && !wasRetiring {
		if !w.ready {
			p.backoff = min(max(2*p.backoff, respawnBackoffMin), respawnBackoffMax)
			cause = fmt.Errorf("%w before it was ready", cause)
		}
		p.spawnLocked()
	}
	p.mu.Unlock()
	// A worker runs its jobs in order: only the first had started. The
	// others waited in its pipe and go back without an attempt charged,
	// so a job that crashes workers cannot use up its neighbours' retries.
	for i, j := range lost {
		o := sched.Outcome{Lost: cause, Unsent: i > 0}
		if j == expired {
			o = sched.Outcome{TimedOut: true, Lost: fmt.Errorf(
				"ran longer than its %v timeout; its worker (process %d) was killed", j.Timeout, pid)}
		}
		p.rep.Finish(p, j, o)
	}
}

// startClockLocked starts the clock of the job w runs now, inflight[0],
// if it has a timeout, and stops the clock of the one before. A job's time
// counts from when a ready worker starts it: not while the worker's
// interpreter starts, nor while the job waits in the pipe behind another.
// (The pool learns that a job started when the one before it ends, which
// it hears a pipe's latency late: the clock errs on the job's side.)
func (p *Pool) startClockLocked(w *worker) {
	if w.clock != nil {
		w.clock.Stop()
		w.clock = nil
	}
	if !w.ready || len(w.inflight) == 0 || w.expired != nil || w.inflight[0].Timeout <= 0 {
		return
	}
	j := w.inflight[0]
	w.clock = time.AfterFunc(j.Timeout, func() { p.expire(w, j) })
}

// expire kills w for running j past its timeout, unless j has finished
// meanwhile: its result may cross the clock. The worker's exit then
// reports j as timed out and the jobs behind it as lost (exited), and
// replaces the worker.
func (p *Pool) expire(w *worker, j *sched.Job) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(w.inflight) == 0 || w.inflight[0] != j || w.expired != nil {
		return
	}
	w.expired = j
	_ = w.proc.Kill() // set: the clock only starts on a ready worker
}

func (p *Pool) kill(w *worker) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w.proc != nil {
		_ = w.proc.Kill()
	}
}

// growPipe enlarges a pipe's kernel buffer so large arguments and results
// cross in fewer wake-ups. It is only an optimization: failure is ignored.
func growPipe(f *os.File) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, fd, fcntlSetPipeSize, pipeBufferSize)
	})
}
