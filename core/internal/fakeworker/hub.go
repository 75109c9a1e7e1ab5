package fakeworker

import (
	"bufio"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Hub is the test's side of the fake workers' side channel: it learns when
// a worker starts and when a job blocks, and releases blocked jobs.
type Hub struct {
	Path     string // the unix socket; give it to workers in HubEnv
	deadline time.Duration
	starts   chan Event
	blocks   chan Event
	holds    chan Event
	done     chan struct{} // closed when the test ends

	// conns keeps every worker connection referenced until the test ends:
	// an Event a test drops must not be garbage collected, which would
	// close its connection and release the worker waiting on it.
	mu    sync.Mutex
	conns []net.Conn
	ran   []Event // jobs handed to "record" workers, not yet taken by Ran
}

// Event is one message from a fake worker; conn is open (waiting for
// release) for blocked jobs, exit-before-ready and slow-start starts, and
// orphans.
type Event struct {
	PID  int
	ID   uint64    // blocked job, or job a worker was handed
	Args string    // of the job a worker was handed
	At   time.Time // worker's clock when it started
	conn net.Conn
}

// Release lets a waiting worker go on.
func (e Event) Release() {
	e.conn.Write([]byte{1})
	e.conn.Close()
}

// NewHub listens for fake workers until the test ends; waits for their
// events fail the test after deadline.
func NewHub(t testing.TB, deadline time.Duration) *Hub {
	t.Helper()
	// Not t.TempDir: a unix socket path must stay under 108 bytes.
	dir, err := os.MkdirTemp("", "ppgo")
	if err != nil {
		t.Fatal(err)
	}
	h := &Hub{Path: dir + "/hub", deadline: deadline, starts: make(chan Event, 256), blocks: make(chan Event, 256), holds: make(chan Event, 256), done: make(chan struct{})}
	ln, err := net.Listen("unix", h.Path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		close(h.done)
		ln.Close()
		os.RemoveAll(dir)
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, c := range h.conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go h.serve(c)
		}
	}()
	return h
}

func (h *Hub) serve(c net.Conn) {
	h.mu.Lock()
	h.conns = append(h.conns, c)
	h.mu.Unlock()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		c.Close()
		return
	}
	f := strings.SplitN(strings.TrimSuffix(line, "\n"), " ", 4)
	num := func(i int) int64 { v, _ := strconv.ParseInt(f[i], 10, 64); return v }
	switch f[0] {
	case "start":
		h.starts <- Event{PID: int(num(1)), At: time.Unix(0, num(2)), conn: c}
	case "block":
		h.blocks <- Event{ID: uint64(num(1)), PID: int(num(2)), conn: c}
	case "hold":
		h.holds <- Event{PID: int(num(1)), conn: c}
	case "ran":
		// Noted before the worker goes on: by the time a job's result
		// is read, the hub has every job that worker was handed before.
		h.mu.Lock()
		h.ran = append(h.ran, Event{ID: uint64(num(1)), PID: int(num(2)), Args: f[3]})
		h.mu.Unlock()
		Event{conn: c}.Release()
	}
}

// Command is how to start a fake worker in mode that reports to h: this
// test binary, running no test, with ModeEnv and HubEnv set.
func (h *Hub) Command(mode string) (argv, env []string) {
	// Under -race a Go process sleeps a second at exit (atexit_sleep_ms)
	// unless told not to; fake workers exit a lot.
	race := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
	argv = []string{os.Args[0], "-test.run=^$"}
	env = append(os.Environ(), ModeEnv+"="+mode, HubEnv+"="+h.Path, "GORACE="+race)
	return argv, env
}

// NextStart waits for the next worker to start.
func (h *Hub) NextStart(t testing.TB) Event {
	t.Helper()
	return h.next(t, "worker start", h.starts)
}

// NextBlock waits for the next job to block.
func (h *Hub) NextBlock(t testing.TB) Event {
	t.Helper()
	return h.next(t, "blocked job", h.blocks)
}

// ReleaseBlocks releases every blocked job not yet taken, and each that
// blocks from now on until the test ends: for a node whose jobs the test
// no longer follows, such as one it abandoned with jobs in its workers'
// pipes.
func (h *Hub) ReleaseBlocks() {
	go func() {
		for {
			select {
			case e := <-h.blocks:
				e.Release()
			case <-h.done:
				return
			}
		}
	}()
}

// NextHold waits for the next orphan (left by an "orphan:" job) to say it
// holds its worker's pipes; Release lets it exit, as does the test's end.
func (h *Hub) NextHold(t testing.TB) Event {
	t.Helper()
	return h.next(t, "orphan holding the pipes", h.holds)
}

// Ran returns the jobs "record" workers have been handed since the last
// call, in the order the hub heard of them.
func (h *Hub) Ran() []Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.ran
	h.ran = nil
	return out
}

// PollStart returns a worker start that already happened, if any.
func (h *Hub) PollStart() (Event, bool) {
	select {
	case e := <-h.starts:
		return e, true
	default:
		return Event{}, false
	}
}

func (h *Hub) next(t testing.TB, what string, ch chan Event) Event {
	t.Helper()
	select {
	case e := <-ch:
		return e
	case <-time.After(h.deadline):
		t.Fatalf("no %s within %v", what, h.deadline)
		return Event{}
	}
}
