package main

import (
	"fmt"
	"runtime"
	"syscall"
	"time"

	"github.com/ppgo/ppgo/core/sched"
)

// Shape is one simulated cluster: Nodes nodes that each run Workers jobs
// at once.
type Shape struct {
	Nodes   int `json:"nodes"`
	Workers int `json:"workers"`
}

// Slots is how many jobs the cluster runs at once.
func (sh Shape) Slots() int { return sh.Nodes * sh.Workers }

func (sh Shape) String() string { return fmt.Sprintf("%d nodes × %d workers", sh.Nodes, sh.Workers) }

// Figures are one run's measurements.
type Figures struct {
	Shape
	Mode         string  `json:"mode"`
	Jobs         int     `json:"jobs"`           // jobs measured
	Seconds      float64 `json:"seconds"`        // their wall time
	JobsPerSec   float64 `json:"jobs_per_s"`     // the dispatch rate
	CPUNsPerJob  float64 `json:"cpu_ns_per_job"` // CPU time of the whole process (user + system) per job
	AllocsPerJob float64 `json:"allocs_per_job"` // heap allocations per job
	// MinShare and MaxShare are the fewest and most jobs one node ran,
	// as a share of an even split: how evenly the scheduler spread them.
	MinShare float64 `json:"min_share"`
	MaxShare float64 `json:"max_share"`
}

// payload is every job's argument and result: the simulation measures the
// scheduler, not the copying of bytes.
var payload = []byte("x")

// collectBatch is how many notified jobs the simulated client takes at a
// time, as a callback thread does.
const collectBatch = 1024

// newScheduler returns a scheduler with the shape's nodes, made by mk.
func newScheduler[N sched.Node](sh Shape, mk func(s *sched.Scheduler, i int) N) (*sched.Scheduler, []N) {
	s := sched.New(sched.Config{})
	nodes := make([]N, sh.Nodes)
	for i := range nodes {
		nodes[i] = mk(s, i)
		s.AddNode(nodes[i], sh.Workers)
	}
	return s, nodes
}

// newJob is a job whose notification the client collects.
func newJob() *sched.Job { return &sched.Job{Args: payload, Notify: true} }

// submit queues one job made by newJob.
func submit(s *sched.Scheduler) error {
	if _, err := s.Submit(newJob()); err != nil {
		return fmt.Errorf("submit: %w", err)
	}
	return nil
}

// collectWait bounds the collector's wait for a notification: a job that
// never completes ends the run with an error, not a hang.
const collectWait = 10 * time.Second

// drive runs jobs jobs made by mk through s as a client does: one
// goroutine submits, keeping at most out jobs submitted and not yet
// collected, while this one collects and releases them.
func drive(s *sched.Scheduler, jobs, out int, mk func() *sched.Job) error {
	window := make(chan struct{}, out)
	stop := make(chan struct{})
	defer close(stop)
	submitErr := make(chan error, 1)
	go func() {
		for range jobs {
			select {
			case window <- struct{}{}:
			case <-stop:
				submitErr <- nil
				return
			}
			if _, err := s.Submit(mk()); err != nil {
				submitErr <- fmt.Errorf("submit: %w", err)
				return
			}
		}
		submitErr <- nil
	}()
	submitted := false  // the submitter has returned, without an error
	quiet := time.Now() // when a job was last collected
	for done := 0; done < jobs; {
		// NextNotified may return none before its timeout (a wake-up for
		// jobs an earlier call took): only a long silence is a failure.
		got, err := collect(s, collectBatch, collectWait)
		if err != nil {
			return err
		}
		if got == 0 {
			if !submitted {
				select {
				case err := <-submitErr:
					if err != nil {
						return err
					}
					submitted = true
				default:
				}
			}
			if time.Since(quiet) > collectWait {
				return fmt.Errorf("no job notified within %v, %d of %d collected", collectWait, done, jobs)
			}
			continue
		}
		quiet = time.Now()
		for range got {
			<-window
		}
		done += got
	}
	if submitted {
		return nil
	}
	return <-submitErr
}

// collect takes up to max notified jobs, checks each is done, and
// releases it, as the client's callback thread does; it returns how many
// it took, waiting up to wait for the first.
func collect(s *sched.Scheduler, max int, wait time.Duration) (int, error) {
	ids, _ := s.NextNotified(max, wait)
	for _, id := range ids {
		r, ok := s.Result(id)
		if !ok || r.Status != sched.StatusDone {
			return 0, fmt.Errorf("job %d: result %+v (found: %v), want done", id, r, ok)
		}
		s.Release(id)
	}
	return len(ids), nil
}

// shares sets MinShare and MaxShare from the jobs each node ran.
func (f *Figures) shares(perNode []int) {
	total := 0
	lo, hi := perNode[0], perNode[0]
	for _, n := range perNode {
		total += n
		lo, hi = min(lo, n), max(hi, n)
	}
	even := float64(total) / float64(len(perNode))
	f.MinShare, f.MaxShare = float64(lo)/even, float64(hi)/even
}

// meter samples the process's wall clock, CPU time and allocations.
type meter struct {
	wall    time.Time
	cpu     time.Duration
	mallocs uint64
}

func startMeter() meter {
	runtime.GC() // the last run's garbage is not this one's cost
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return meter{wall: time.Now(), cpu: cpuTime(), mallocs: ms.Mallocs}
}

// stop fills f's figures for f.Jobs jobs since the meter started.
func (m meter) stop(f *Figures) {
	wall := time.Since(m.wall)
	cpu := cpuTime() - m.cpu
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	f.Seconds = wall.Seconds()
	f.JobsPerSec = float64(f.Jobs) / wall.Seconds()
	f.CPUNsPerJob = float64(cpu.Nanoseconds()) / float64(f.Jobs)
	f.AllocsPerJob = float64(ms.Mallocs-m.mallocs) / float64(f.Jobs)
}

// cpuTime is the CPU time the process has used, every thread together.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
