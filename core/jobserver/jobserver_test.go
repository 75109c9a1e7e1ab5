package jobserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ppgo/ppgo/core/internal/fakeworker"
	"github.com/ppgo/ppgo/core/pool"
	"github.com/ppgo/ppgo/core/sched"
)

// deadline bounds every wait for something that should happen soon.
const deadline = 10 * time.Second

func newServer(t *testing.T, workers, maxAttempts int) (*Server, *fakeworker.Hub) {
	t.Helper()
	h := fakeworker.NewHub(t, deadline)
	s, err := New(Config{Pool: fakePool(h, workers), MaxAttempts: maxAttempts})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(s.Close)
	return s, h
}

func submit(t *testing.T, s *Server, key uint64, args, group string, notify bool) uint64 {
	t.Helper()
	id, err := s.Submit(key, []byte(args), group, notify, 0)
	if err != nil {
		t.Fatalf("Submit(%d, %q): %v", key, args, err)
	}
	return id
}

// result waits for job id and returns its result, which must have status.
func result(t *testing.T, s *Server, id uint64, status sched.Status) sched.Result {
	t.Helper()
	if !s.Wait(id, deadline) {
		t.Fatalf("job %d not finished within %v", id, deadline)
	}
	r, ok := s.Result(id)
	if !ok {
		t.Fatalf("job %d finished without a result", id)
	}
	if r.Status != status {
		t.Fatalf("job %d: status %d, want %d (message %q)", id, r.Status, status, r.Message)
	}
	return r
}

// reply waits for job id to succeed and decodes what the worker saw.
func reply(t *testing.T, s *Server, id uint64) fakeworker.Reply {
	t.Helper()
	r := result(t, s, id, sched.StatusDone)
	var rep fakeworker.Reply
	if err := json.Unmarshal(r.Data, &rep); err != nil {
		t.Fatalf("job %d: result %q: %v", id, r.Data, err)
	}
	if rep.ID != id {
		t.Fatalf("job %d: worker ran job %d", id, rep.ID)
	}
	return rep
}

func TestServerRunsJobs(t *testing.T) {
	s, _ := newServer(t, 1, 0)
	s.Register(7, []byte("source seven"))
	first := reply(t, s, submit(t, s, 7, "hello", "g", false))
	if first.Key != 7 || first.Args != "hello" || !first.HasSource || first.Source != "source seven" {
		t.Errorf("worker saw %+v", first)
	}
	second := reply(t, s, submit(t, s, 7, "again", "g", false))
	if second.HasSource || second.Args != "again" || second.PID != first.PID {
		t.Errorf("second job of the key: worker saw %+v (source must not be resent)", second)
	}
	if !s.WaitGroup("g", false, 0) || !s.WaitGroup("", true, 0) || s.Pending() != 0 {
		t.Errorf("group or server still pending: %d", s.Pending())
	}
	if _, err := s.Submit(8, nil, "", false, 0); err == nil || !strings.Contains(err.Error(), "8") {
		t.Errorf("Submit of an unregistered key: %v", err)
	}

	// A notify job waits for Release.
	id := submit(t, s, 7, "callback", "cb", true)
	ids, ok := s.NextNotified(10, deadline)
	if !ok || !slices.Equal(ids, []uint64{id}) {
		t.Fatalf("NextNotified = %v, %v; want [%d]", ids, ok, id)
	}
	if s.Wait(id, 0) || s.WaitGroup("cb", false, 0) {
		t.Fatal("notify job finished before Release")
	}
	if r, ok := s.Result(id); !ok || r.Status != sched.StatusDone {
		t.Fatalf("notify job result before Release: %+v %v", r, ok)
	}
	s.Release(id)
	if !s.Wait(id, 0) || !s.WaitGroup("cb", false, 0) {
		t.Fatal("notify job not finished after Release")
	}

	id = submit(t, s, 7, "forget me", "", false)
	reply(t, s, id)
	s.Forget(id)
	if _, ok := s.Result(id); ok {
		t.Error("result kept after Forget")
	}

	st := s.Nodes()
	if len(st) != 1 || st[0].Name != "local" || st[0].Capacity != pool.MaxJobsPerWorker ||
		st[0].Jobs != 4 || st[0].Running != 0 || st[0].Busy <= 0 {
		t.Errorf("Stats = %+v", st)
	}
	if pids := s.WorkerPIDs(); !slices.Equal(pids, []int{first.PID}) {
		t.Errorf("WorkerPIDs = %v, want [%d]", pids, first.PID)
	}
}

// A job that kills every worker it runs on fails after MaxAttempts, with
// the death described; the pool replaces each worker and keeps working.
func TestServerJobKillsEveryWorker(t *testing.T) {
	tests := []struct {
		maxAttempts int
		want        int
	}{
		{0, sched.DefaultMaxAttempts},
		{2, 2},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.maxAttempts), func(t *testing.T) {
			s, h := newServer(t, 2, tt.maxAttempts)
			s.Register(1, []byte("src"))
			id := submit(t, s, 1, "kill", "", false)
			r := result(t, s, id, sched.StatusFailed)
			for _, want := range []string{
				"failed after", // the client names the job
				fmt.Sprintf("after %d attempts", tt.want),
				"killed by signal SIGKILL (9)",
				"worker process ",
			} {
				if !strings.Contains(r.Message, want) {
					t.Errorf("message %q does not contain %q", r.Message, want)
				}
			}
			// Two workers at start, one replacement per attempt.
			for range 2 + tt.want {
				h.NextStart(t)
			}
			rep := reply(t, s, submit(t, s, 1, "fine", "", false))
			if rep.Args != "fine" {
				t.Errorf("worker saw %+v", rep)
			}
			fakeworker.Eventually(t, deadline, "two workers", func() bool { return len(s.WorkerPIDs()) == 2 })
			if e, ok := h.PollStart(); ok {
				t.Errorf("worker %d started beyond one replacement per attempt", e.PID)
			}
		})
	}
}

func TestServerSetWorkers(t *testing.T) {
	s, h := newServer(t, 1, 0)
	s.Register(1, []byte("src"))
	capacity := func() int { return s.Nodes()[0].Capacity }

	s.SetWorkers(3)
	if s.Workers() != 3 || capacity() != 3 {
		t.Fatalf("after grow: Workers %d capacity %d", s.Workers(), capacity())
	}
	var ids []uint64
	for range 3 {
		ids = append(ids, submit(t, s, 1, "block", "", false))
	}
	var blocked []fakeworker.Event
	pids := map[int]bool{}
	for range 3 {
		e := h.NextBlock(t)
		blocked = append(blocked, e)
		pids[e.PID] = true
	}
	if len(pids) != 3 {
		t.Fatalf("3 jobs ran on %d workers", len(pids))
	}

	// Shrink while all three run: no job starts until running drops to one.
	s.SetWorkers(1)
	if s.Workers() != 1 || capacity() != 1 {
		t.Fatalf("after shrink: Workers %d capacity %d", s.Workers(), capacity())
	}
	later := []uint64{submit(t, s, 1, "block", "", false), submit(t, s, 1, "block", "", false)}
	if st := s.Nodes()[0]; st.Running != 3 || s.Pending() != 5 {
		t.Fatalf("Running %d Pending %d, want 3 and 5", st.Running, s.Pending())
	}
	for _, e := range blocked {
		e.Release()
	}
	for _, id := range ids {
		reply(t, s, id)
	}
	for i, id := range later {
		e := h.NextBlock(t)
		if e.ID != id {
			t.Fatalf("blocked job %d, want %d", e.ID, id)
		}
		if st := s.Nodes()[0]; st.Running != 1 {
			t.Fatalf("later job %d: %d running with capacity 1", i, st.Running)
		}
		e.Release()
		reply(t, s, id)
	}
	fakeworker.Eventually(t, deadline, "one worker left", func() bool { return len(s.WorkerPIDs()) == 1 })
	for pid := range pids {
		if pid != s.WorkerPIDs()[0] && !fakeworker.ProcessGone(pid) {
			t.Errorf("retired worker %d still running", pid)
		}
	}

	s.SetWorkers(2)
	if s.Workers() != 2 || capacity() != 2 {
		t.Fatalf("after regrow: Workers %d capacity %d", s.Workers(), capacity())
	}
	a, b := submit(t, s, 1, "block", "", false), submit(t, s, 1, "block", "", false)
	e1, e2 := h.NextBlock(t), h.NextBlock(t)
	if e1.PID == e2.PID {
		t.Fatal("two jobs on one worker after growing to two")
	}
	e1.Release()
	e2.Release()
	reply(t, s, a)
	reply(t, s, b)
}

// A negative worker count must not leave the scheduler and the pool
// disagreeing: the pool ignores it, so the server must too.
func TestServerSetWorkersNegative(t *testing.T) {
	s, _ := newServer(t, 1, 0)
	s.Register(1, []byte("src"))
	if err := s.SetWorkers(-1); err == nil {
		t.Error("SetWorkers(-1) returned no error")
	}
	if w, c := s.Workers(), s.Nodes()[0].Capacity; c != w {
		t.Errorf("after SetWorkers(-1): %d workers but scheduler capacity %d", w, c)
	}
	id := submit(t, s, 1, "x", "", false)
	if !s.Wait(id, time.Second) {
		t.Fatalf("job never dispatched after SetWorkers(-1) (workers %d, capacity %d)",
			s.Workers(), s.Nodes()[0].Capacity)
	}
}

func TestServerClose(t *testing.T) {
	s, h := newServer(t, 1, 0)
	s.Register(1, []byte("src"))
	// Finished before Close, but not yet read: its result must survive.
	early := submit(t, s, 1, "early", "g", false)
	earlyCallback := submit(t, s, 1, "early callback", "g", true)
	if ids, _ := s.NextNotified(10, deadline); !slices.Equal(ids, []uint64{earlyCallback}) {
		t.Fatalf("NextNotified = %v, want [%d]", ids, earlyCallback)
	}
	reply(t, s, early)
	running := submit(t, s, 1, "block", "g", false)
	pid := holdBlock(t, h).PID // held: a dropped event is a released job
	queued := submit(t, s, 1, "queued", "g", false)
	callback := submit(t, s, 1, "queued", "g", true)
	if got, want := s.Queued(), []uint64{queued, callback}; !slices.Equal(got, want) {
		t.Errorf("Queued = %v while job %d runs, want %v", got, running, want)
	}

	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(deadline):
		t.Fatal("Close did not return")
	}
	for _, id := range []uint64{running, queued, callback} {
		r := result(t, s, id, sched.StatusCancelled)
		if r.Message == "" {
			t.Errorf("job %d cancelled without a message", id)
		}
	}
	reply(t, s, early)
	reply(t, s, earlyCallback)
	if got := s.Queued(); len(got) != 0 {
		t.Errorf("Queued after Close = %v", got)
	}
	if n := s.Workers(); n != 1 {
		t.Errorf("Workers after Close = %d, want the size it had", n)
	}
	if !s.WaitGroup("g", false, 0) || s.Pending() != 0 {
		t.Errorf("after Close: group pending, or Pending %d", s.Pending())
	}
	if ids, ok := s.NextNotified(10, deadline); ok || len(ids) != 0 {
		t.Errorf("NextNotified after Close = %v, %v", ids, ok)
	}
	if _, err := s.Submit(1, nil, "", false, 0); !errors.Is(err, sched.ErrClosed) {
		t.Errorf("Submit after Close: %v, want sched.ErrClosed", err)
	}
	if !fakeworker.ProcessGone(pid) {
		t.Errorf("worker %d still exists after Close", pid)
	}
	if pids := s.WorkerPIDs(); len(pids) != 0 {
		t.Errorf("WorkerPIDs after Close = %v", pids)
	}
	s.Close()
}

func TestNewRejectsBadPoolConfig(t *testing.T) {
	if s, err := New(Config{}); err == nil {
		s.Close()
		t.Fatal("New with no worker command succeeded")
	}
}

func TestMain(m *testing.M) {
	fakeworker.RunIfWorker()
	os.Exit(m.Run())
}

func TestServerRefusesJobTooLargeToFrame(t *testing.T) {
	s, _ := newServer(t, 1, 0)
	s.Register(1, []byte("src"))
	// Address space only (mmap'd, never touched): a make() of 4 GiB would be
	// zeroed, and paged in, on reuse.
	huge, err := syscall.Mmap(-1, 0, pool.MaxFrameBody, syscall.PROT_READ,
		syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
	if err != nil {
		t.Skipf("cannot reserve %d bytes of address space: %v", pool.MaxFrameBody, err)
	}
	defer syscall.Munmap(huge)
	if _, err := s.Submit(1, huge, "", false, 0); !errors.Is(err, ErrJobTooLarge) {
		t.Fatalf("Submit of %d bytes: err = %v, want ErrJobTooLarge", len(huge), err)
	}
	if n := s.Pending(); n != 0 {
		t.Errorf("refused job left %d pending", n)
	}
}
