package pool

import (
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"

	"github.com/ppgo/ppgo/core/internal/fakeworker"
)

// startSpare starts a fake worker as pp/_prestart.py starts a spare,
// outside any pool, and returns what the client hands a pool: its pid and
// descriptors of its pipes that the pool will own.
func startSpare(t *testing.T, argv, env []string) Spare {
	t.Helper()
	jobsR, jobsW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	resultsR, resultsW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	segments, theirSegments, err := newSegmentSocket()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.ExtraFiles = []*os.File{jobsR, resultsW, theirSegments}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	jobsR.Close()
	resultsW.Close()
	theirSegments.Close()
	// The pool owns what it is handed: plain descriptors, as from Python.
	dup := func(f *os.File) int {
		t.Helper()
		fd, err := syscall.Dup(int(f.Fd()))
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		return fd
	}
	return Spare{PID: cmd.Process.Pid, Jobs: dup(jobsW), Results: dup(resultsR), Segments: dup(segments)}
}

func TestPoolRunsJobsOnSpares(t *testing.T) {
	hub := fakeworker.NewHub(t, deadline)
	argv, env := hub.Command("echo")
	spares := []Spare{startSpare(t, argv, env), startSpare(t, argv, env)}
	h := newHarness(t, "echo", 3, func(cfg *Config) { cfg.Spares = spares })

	// Three workers: the two spares, and one the pool starts itself.
	var pids []int
	fakeworker.Eventually(t, deadline, "three workers", func() bool {
		pids = h.p.PIDs()
		return len(pids) == 3
	})
	for _, s := range spares {
		if !slices.Contains(pids, s.PID) {
			t.Fatalf("spare %d is not among the workers %v", s.PID, pids)
		}
	}
	// Three long jobs at once: one for each worker, each spare included.
	for range 3 {
		h.dispatch(1, "sleep:100ms")
	}
	var served []int
	for range 3 {
		served = append(served, h.reply(h.next()).PID)
	}
	slices.Sort(served)
	slices.Sort(pids)
	if !slices.Equal(served, pids) {
		t.Fatalf("jobs ran on %v, want one on each of %v", served, pids)
	}
}

func TestPoolKillsSparesItDoesNotNeed(t *testing.T) {
	hub := fakeworker.NewHub(t, deadline)
	argv, env := hub.Command("echo")
	spare := startSpare(t, argv, env)
	h := newHarness(t, "echo", 0, func(cfg *Config) { cfg.Spares = []Spare{spare} })
	h.p.Close()
	fakeworker.Eventually(t, deadline, "the unused spare gone", func() bool {
		return fakeworker.ProcessGone(spare.PID)
	})
}

func TestPoolReplacesADeadSpare(t *testing.T) {
	hub := fakeworker.NewHub(t, deadline)
	argv, env := hub.Command("exit-before-ready")
	spare := startSpare(t, argv, env)
	hub.NextStart(t).Release() // the spare exits before READY
	h := newHarness(t, "echo", 1, func(cfg *Config) { cfg.Spares = []Spare{spare} })
	fakeworker.Eventually(t, deadline, "a worker in the dead spare's place", func() bool {
		pids := h.p.PIDs()
		return len(pids) == 1 && pids[0] != spare.PID
	})
	j := h.dispatch(1, "after")
	if r := h.done(j); r.Args != "after" {
		t.Fatalf("reply %+v", r)
	}
}

// A job goes to a ready worker before one whose interpreter is still
// starting, even one listed first: here a spare that has not said READY,
// next to a worker the pool started later that has.
func TestPoolPrefersAReadyWorker(t *testing.T) {
	hub := fakeworker.NewHub(t, deadline)
	argv, env := hub.Command("slow-start") // READY only once the test says so
	spare := startSpare(t, argv, env)
	starting := hub.NextStart(t)
	defer starting.Release()
	h := newHarness(t, "echo", 1, func(cfg *Config) { cfg.Spares = []Spare{spare} })
	fakeworker.Eventually(t, deadline, "the spare taken", func() bool {
		return slices.Contains(h.p.PIDs(), spare.PID)
	})
	h.p.SetWorkers(2) // a worker listed after the spare
	var ready int
	fakeworker.Eventually(t, deadline, "the second worker ready", func() bool {
		h.p.mu.Lock()
		defer h.p.mu.Unlock()
		for _, w := range h.p.workers {
			if w.proc != nil && w.proc.Pid != spare.PID && w.ready {
				ready = w.proc.Pid
				return true
			}
		}
		return false
	})
	for i := range 3 {
		j := h.dispatch(1, "job")
		if r := h.done(j); r.PID != ready {
			t.Fatalf("job %d ran on %d, want the ready worker %d", i, r.PID, ready)
		}
	}
}
