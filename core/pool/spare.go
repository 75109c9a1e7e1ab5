package pool

import (
	"fmt"
	"os"
	"syscall"
)

// Spare is a worker process that was started before its pool, by the
// client's Python when it imported pp (pp/_prestart.py), so that the
// interpreter's start-up overlaps the client's own: its process id and the
// client's ends of its two pipes and of its segment socket, as descriptors
// the pool takes over. The
// client hands a pool only spares started with exactly the pool's Argv, Env
// and Dir; the pool treats them as workers it started itself, READY
// handshake included.
type Spare struct {
	PID     int
	Jobs    int // write end of the job pipe (the worker's fd 3)
	Results int // read end of the result pipe (the worker's fd 4)
	// Segments is the client's end of the segment socket (the worker's
	// fd 5): a SOCK_SEQPACKET Unix socket, as newSegmentSocket makes.
	Segments int
}

// spare is a Spare the pool owns: its process and pipes.
type spare struct {
	proc                    *os.Process
	jobs, results, segments *os.File
}

// adoptSpares takes ownership of the spares' descriptors and processes.
// A spare whose pipes cannot be taken over is killed and reaped in the
// background: the pool starts a worker in its place.
func adoptSpares(spares []Spare) []*spare {
	var adopted []*spare
	for _, s := range spares {
		proc, err := os.FindProcess(s.PID)
		if err != nil { // it does not on Unix, where a pid always names something
			_ = syscall.Close(s.Jobs)
			_ = syscall.Close(s.Results)
			_ = syscall.Close(s.Segments)
			continue
		}
		// Non-blocking, so os.NewFile puts the pipes in Go's poller: the
		// pool sets deadlines on them (run, exitedReader).
		jobs, jerr := ownFile(s.Jobs, "job pipe")
		results, rerr := ownFile(s.Results, "result pipe")
		segments, serr := ownFile(s.Segments, "segment socket")
		if jerr != nil || rerr != nil || serr != nil {
			for _, f := range []*os.File{jobs, results, segments} {
				if f != nil {
					f.Close()
				}
			}
			_ = proc.Kill()
			go func() { _, _ = proc.Wait() }()
			continue
		}
		growPipe(jobs)
		growPipe(results)
		adopted = append(adopted, &spare{proc: proc, jobs: jobs, results: results, segments: segments})
	}
	return adopted
}

// ownFile turns a descriptor handed over by the client into a pollable
// file the pool owns.
func ownFile(fd int, name string) (*os.File, error) {
	if fd < 0 {
		return nil, fmt.Errorf("spare's %s: bad descriptor %d", name, fd)
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("spare's %s: %w", name, err)
	}
	return os.NewFile(uintptr(fd), "spare-"+name), nil
}

// discard kills a spare no worker took and reaps it.
func (s *spare) discard() {
	_ = s.proc.Kill()
	s.jobs.Close()
	s.results.Close()
	s.segments.Close()
	_, _ = s.proc.Wait()
}

// takeSpareLocked hands out the next spare, if the pool has one left.
func (p *Pool) takeSpareLocked() *spare {
	if len(p.spares) == 0 {
		return nil
	}
	s := p.spares[0]
	p.spares = p.spares[1:]
	return s
}
