package pool

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ppgo/ppgo/core/internal/fakeworker"
	"github.com/ppgo/ppgo/core/sched"
)

func TestNewRejectsBadConfig(t *testing.T) {
	rep := &fakeReporter{ch: make(chan report, 1)}
	for _, cfg := range []Config{
		{},
		{Argv: []string{"x"}, Workers: -1},
		{Argv: []string{"x"}, MaxResult: -1},
		{Argv: []string{"x"}, MaxResult: MaxFrameBody + 1},
	} {
		if p, err := New(cfg, rep); err == nil {
			p.Close()
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

func TestPoolRunsJobs(t *testing.T) {
	for _, workers := range []int{1, 3} {
		t.Run(fmt.Sprint(workers, " workers"), func(t *testing.T) {
			h := newHarness(t, "echo", workers, nil)
			if h.p.Name() != "local" || h.p.Workers() != workers || h.p.Capacity() != workers {
				t.Fatalf("Name %q Workers %d Capacity %d", h.p.Name(), h.p.Workers(), h.p.Capacity())
			}
			// More jobs than workers: the rest wait in the backlog.
			jobs := map[uint64]*sched.Job{}
			for i := range 3 * workers {
				j := h.dispatch(1, fmt.Sprint("job ", i))
				jobs[j.ID] = j
			}
			sources := map[int]int{} // pid → frames that carried the source
			for range jobs {
				r := h.next()
				if jobs[r.job.ID] != r.job {
					t.Fatalf("outcome for unknown job %d", r.job.ID)
				}
				delete(jobs, r.job.ID)
				rep := h.reply(r)
				if rep.HasSource {
					sources[rep.PID]++
				} else if _, ok := sources[rep.PID]; !ok {
					t.Fatalf("worker %d got job %d without ever getting the source", rep.PID, rep.ID)
				}
			}
			for pid, n := range sources {
				if n != 1 {
					t.Errorf("worker %d got the source %d times, want once", pid, n)
				}
			}
		})
	}
}

func TestPoolSendsSourceOncePerWorker(t *testing.T) {
	h := newHarness(t, "echo", 1, nil)
	steps := []struct {
		key        uint64
		wantSource bool
	}{
		{1, true}, {1, false}, {2, true}, {1, false}, {2, false}, {3, true}, {3, false},
	}
	var jobs []*sched.Job
	for i, s := range steps {
		jobs = append(jobs, h.dispatch(s.key, fmt.Sprint(i)))
	}
	// One worker runs them in the order dispatched.
	pid := 0
	for i, s := range steps {
		rep := h.done(jobs[i])
		if rep.HasSource != s.wantSource {
			t.Errorf("job %d (key %d): source sent = %v, want %v", i, s.key, rep.HasSource, s.wantSource)
		}
		if pid == 0 {
			pid = rep.PID
		} else if rep.PID != pid {
			t.Fatalf("job %d ran on worker %d, want the only worker %d", i, rep.PID, pid)
		}
	}
}

func TestPoolRestartGivesEachJobAFreshWorker(t *testing.T) {
	h := newHarness(t, "echo", 1, func(c *Config) { c.Restart = true })
	var jobs []*sched.Job
	for i := range 3 {
		jobs = append(jobs, h.dispatch(1, fmt.Sprint(i)))
	}
	var pids []int
	for _, j := range jobs {
		rep := h.done(j)
		if slices.Contains(pids, rep.PID) {
			t.Fatalf("job %d ran on worker %d again (pids so far %v)", j.ID, rep.PID, pids)
		}
		if !rep.HasSource {
			t.Errorf("job %d: a fresh worker was not sent the source", j.ID)
		}
		pids = append(pids, rep.PID)
	}
	// Each finished worker exits; one fresh worker waits for the next job.
	for _, pid := range pids {
		fakeworker.Eventually(t, deadline, fmt.Sprintf("restarted worker %d exits", pid), func() bool { return fakeworker.ProcessGone(pid) })
	}
	fakeworker.Eventually(t, deadline, "one fresh worker", func() bool {
		live := h.p.PIDs()
		return len(live) == 1 && !slices.Contains(pids, live[0])
	})
}

func TestPoolDispatchWithoutWorkers(t *testing.T) {
	h := newHarness(t, "echo", 0, nil)
	j := h.dispatch(1, "waits")
	h.p.SetWorkers(1)
	h.done(j)
}

func TestPoolSetWorkers(t *testing.T) {
	h := newHarness(t, "echo", 1, nil)
	h.hub.NextStart(t)
	h.p.SetWorkers(3)
	if h.p.Workers() != 3 || h.p.Capacity() != 3 {
		t.Fatalf("after grow: Workers %d Capacity %d", h.p.Workers(), h.p.Capacity())
	}
	h.hub.NextStart(t)
	h.hub.NextStart(t)
	fakeworker.Eventually(t, deadline, "3 worker pids", func() bool { return len(h.p.PIDs()) == 3 })

	// Three jobs block at once: three workers really run in parallel.
	var jobs []*sched.Job
	for range 3 {
		jobs = append(jobs, h.dispatch(1, "block"))
	}
	blocked := map[uint64]fakeworker.Event{}
	pids := map[int]bool{}
	for range jobs {
		e := h.hub.NextBlock(t)
		blocked[e.ID] = e
		pids[e.PID] = true
	}
	if len(pids) != 3 {
		t.Fatalf("3 blocked jobs ran on %d workers", len(pids))
	}

	// Shrink while every worker is busy; one more job waits for the survivor.
	h.p.SetWorkers(1)
	if h.p.Workers() != 1 || h.p.Capacity() != 1 {
		t.Fatalf("after shrink: Workers %d Capacity %d", h.p.Workers(), h.p.Capacity())
	}
	extra := h.dispatch(1, "after shrink")
	for _, e := range blocked {
		e.Release()
	}
	var survivor int
	for range 4 {
		r := h.next()
		rep := h.reply(r)
		if r.job == extra {
			survivor = rep.PID
		}
	}
	if !pids[survivor] {
		t.Fatalf("job after shrink ran on worker %d, not one of %v", survivor, pids)
	}
	fakeworker.Eventually(t, deadline, "retired workers exit", func() bool {
		return slices.Equal(h.p.PIDs(), []int{survivor})
	})
	for pid := range pids {
		if pid != survivor && !fakeworker.ProcessGone(pid) {
			t.Errorf("retired worker %d still running", pid)
		}
	}
	if rep := h.done(h.dispatch(1, "still works")); rep.PID != survivor {
		t.Errorf("job ran on worker %d, want %d", rep.PID, survivor)
	}
	h.p.SetWorkers(-1) // ignored
	if h.p.Workers() != 1 {
		t.Errorf("SetWorkers(-1) changed Workers to %d", h.p.Workers())
	}
}

// Shrinking an idle pool retires a worker at once: no job may land on it.
func TestPoolShrinkIdle(t *testing.T) {
	h := newHarness(t, "echo", 2, nil)
	starts := []int{h.hub.NextStart(t).PID, h.hub.NextStart(t).PID}
	h.p.SetWorkers(1)
	var jobs []*sched.Job
	for i := range 3 {
		jobs = append(jobs, h.dispatch(1, fmt.Sprint(i)))
	}
	survivor := 0
	for _, j := range jobs {
		rep := h.done(j)
		if survivor == 0 {
			survivor = rep.PID
		} else if rep.PID != survivor {
			t.Fatalf("jobs ran on workers %d and %d after shrinking to one", survivor, rep.PID)
		}
	}
	if !slices.Contains(starts, survivor) {
		t.Fatalf("jobs ran on worker %d, not one of %v", survivor, starts)
	}
	fakeworker.Eventually(t, deadline, "retired worker exits", func() bool { return slices.Equal(h.p.PIDs(), []int{survivor}) })
}

// A worker that dies or breaks the protocol mid-job loses that job with a
// description of what happened, and a new worker takes its place.
func TestPoolWorkerFailure(t *testing.T) {
	tests := []struct {
		args string
		want []string
	}{
		{"kill", []string{"killed by signal SIGKILL (9)"}},
		{"exit:3", []string{"exited with code 3"}},
		{"exit:0", []string{"exited with code 0"}},
		{"wrong-id", []string{"sent a result for job", "not running"}},
		{"bad-kind", []string{"sent a frame of kind 99"}},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			h := newHarness(t, "echo", 1, nil)
			first := h.hub.NextStart(t)
			j := h.dispatch(1, tt.args)
			err := h.lost(j, append(tt.want, fmt.Sprintf("worker process %d", first.PID))...)
			if strings.Contains(err.Error(), "before it was ready") {
				t.Errorf("a ready worker's death is reported as %q", err)
			}
			second := h.hub.NextStart(t)
			if second.PID == first.PID {
				t.Fatal("the replacement has the dead worker's pid")
			}
			rep := h.done(h.dispatch(1, "after"))
			if rep.PID != second.PID || !rep.HasSource {
				t.Errorf("next job ran on %d (source %v), want fresh worker %d with the source",
					rep.PID, rep.HasSource, second.PID)
			}
			fakeworker.Eventually(t, deadline, "dead worker reaped", func() bool { return fakeworker.ProcessGone(first.PID) })
			if pids := h.p.PIDs(); !slices.Equal(pids, []int{second.PID}) {
				t.Errorf("PIDs = %v, want [%d]", pids, second.PID)
			}
		})
	}
}

// A worker that exits before READY is reported as such, and each
// replacement waits longer than the last: no fork loop.
func TestPoolExitBeforeReadyBacksOff(t *testing.T) {
	h := newHarness(t, "exit-before-ready", 1, nil)
	j := h.dispatch(1, "never runs")
	var starts []fakeworker.Event
	for range 4 {
		e := h.hub.NextStart(t)
		starts = append(starts, e)
		e.Release()
		if len(starts) == 1 {
			h.lost(j, "before it was ready", fmt.Sprintf("exited with code %d", fakeworker.ExitBeforeReadyCode))
		}
	}
	for i := 1; i < len(starts); i++ {
		gap := starts[i].At.Sub(starts[i-1].At)
		if want := respawnBackoffMin << (i - 1); gap < want {
			t.Errorf("respawn %d came %v after the previous start, want at least %v", i, gap, want)
		}
	}
	select {
	case r := <-h.rep.ch:
		t.Errorf("unexpected outcome for job %d: %+v", r.job.ID, r.out)
	default:
	}
}

func TestPoolClose(t *testing.T) {
	h := newHarness(t, "echo", 2, nil)
	jobs := []*sched.Job{h.dispatch(1, "block"), h.dispatch(1, "block")}
	var pids []int
	for range jobs {
		pids = append(pids, h.hub.NextBlock(t).PID)
	}
	queued := h.dispatch(1, "queued") // in the backlog
	start := time.Now()
	h.p.Close()
	if el := time.Since(start); el > closeGrace/2 {
		t.Errorf("Close took %v", el)
	}
	for _, pid := range pids {
		if !fakeworker.ProcessGone(pid) {
			t.Errorf("worker %d still exists after Close", pid)
		}
	}
	if got := h.p.PIDs(); len(got) != 0 {
		t.Errorf("PIDs after Close = %v", got)
	}
	// The running jobs were reported lost before Close returned; the
	// backlog was dropped.
	for range jobs {
		select {
		case r := <-h.rep.ch:
			if r.out.Lost == nil || r.job == queued {
				t.Errorf("after Close: job %d %q outcome %+v", r.job.ID, r.job.Args, r.out)
			}
		default:
			t.Fatal("a running job was not reported when Close returned")
		}
	}
	h.p.Dispatch(&sched.Job{ID: 99, Func: &sched.Func{Key: 1}})
	h.p.SetWorkers(4)
	if h.p.Workers() != 2 {
		t.Errorf("SetWorkers after Close changed Workers to %d", h.p.Workers())
	}
	h.p.Close()
	select {
	case r := <-h.rep.ch:
		t.Errorf("outcome after Close: job %d %+v", r.job.ID, r.out)
	default:
	}
}

// Close must not wait out a respawn delay (up to respawnBackoffMax, longer
// than closeGrace) nor start a worker once it is closed.
func TestPoolCloseDuringRespawnBackoff(t *testing.T) {
	h := newHarness(t, "exit-before-ready", 1, nil)
	for i := range 4 {
		e := h.hub.NextStart(t)
		if i == 3 {
			fakeworker.Eventually(t, deadline, "worker pid listed", func() bool { return slices.Contains(h.p.PIDs(), e.PID) })
		}
		e.Release()
	}
	// The fourth death schedules a respawn 8×respawnBackoffMin away; once
	// the dead worker is gone from PIDs, its replacement is waiting.
	fakeworker.Eventually(t, deadline, "dead worker removed", func() bool { return len(h.p.PIDs()) == 0 })
	start := time.Now()
	h.p.Close()
	if el, want := time.Since(start), 4*respawnBackoffMin; el > want {
		t.Errorf("Close took %v while a respawn was backing off, want under %v", el, want)
	}
}

// WorkerStates says which worker runs a job; Waiting lists the jobs the
// pool holds that no worker has started.
func TestWorkerStatesAndWaiting(t *testing.T) {
	h := newHarness(t, "echo", 1, nil)
	running := h.dispatch(1, "block")
	e := h.hub.NextBlock(t)
	queued := []*sched.Job{h.dispatch(1, "a"), h.dispatch(1, "b")}
	if got := h.p.WorkerStates(); !slices.Equal(got, []WorkerState{{PID: e.PID, Busy: true}}) {
		t.Fatalf("WorkerStates while a job runs = %+v, want worker %d busy", got, e.PID)
	}
	if got, want := h.p.Waiting(), []uint64{queued[0].ID, queued[1].ID}; !slices.Equal(got, want) {
		t.Fatalf("Waiting = %v, want %v (job %d is running)", got, want, running.ID)
	}
	e.Release()
	h.done(running)
	for _, j := range queued {
		h.done(j)
	}
	if got := h.p.Waiting(); len(got) != 0 {
		t.Fatalf("Waiting = %v once every job is done", got)
	}
	fakeworker.Eventually(t, deadline, "worker idle", func() bool {
		return slices.Equal(h.p.WorkerStates(), []WorkerState{{PID: e.PID}})
	})
}
