package main

import (
	"fmt"
	"sync"
	"time"

	"github.com/ppgo/ppgo/core/sched"
)

// The goroutine simulation runs the way a client does: one goroutine
// submits, one collects, and each node has a goroutine of its own that
// reports its jobs as it gets them, as a remote node's reader reports
// results. Its CPU time per job adds the hand-offs between goroutines and
// the contention for the scheduler's lock to the scheduler's own work.

// goNode reports each job it is dispatched at once, from its goroutine.
type goNode struct {
	name string
	s    *sched.Scheduler
	jobs chan *sched.Job // holds at most the node's capacity: Dispatch never blocks
	ran  int             // jobs reported; its goroutine's own
}

func (n *goNode) Name() string { return n.name }

func (n *goNode) Dispatch(j *sched.Job) { n.jobs <- j }

func (n *goNode) Cancel(*sched.Job) sched.CancelResult { return sched.NotCancelled }

func (n *goNode) run(wg *sync.WaitGroup) {
	defer wg.Done()
	for j := range n.jobs {
		n.ran++
		n.s.Finish(n, j, sched.Outcome{Data: payload})
	}
}

// collectWait bounds the collector's wait for a notification: a job that
// never completes ends the run with an error, not a hang.
const collectWait = 10 * time.Second

// runGoroutines measures jobs job lives on sh, with the client keeping
// out jobs submitted and not yet collected.
func runGoroutines(sh Shape, jobs, out int, mode string) (Figures, error) {
	var wg sync.WaitGroup
	s, nodes := newScheduler(sh, func(s *sched.Scheduler, i int) *goNode {
		return &goNode{name: fmt.Sprintf("node%d", i), s: s, jobs: make(chan *sched.Job, sh.Workers)}
	})
	defer s.Close()
	for _, n := range nodes {
		wg.Add(1)
		go n.run(&wg)
	}

	// window bounds the jobs out (submitted, not yet collected).
	window := make(chan struct{}, out)
	f := Figures{Shape: sh, Mode: mode, Jobs: jobs}
	m := startMeter()
	submitErr := make(chan error, 1)
	go func() {
		for range jobs {
			window <- struct{}{}
			if err := submit(s); err != nil {
				submitErr <- err
				return
			}
		}
		submitErr <- nil
	}()
	quiet := time.Now() // when a job was last collected
	for done := 0; done < jobs; {
		// NextNotified may return none before its timeout (a wake-up for
		// jobs an earlier call took): only a long silence is a failure.
		got, err := collect(s, collectBatch, collectWait)
		if err != nil {
			return Figures{}, err
		}
		if got == 0 {
			if time.Since(quiet) > collectWait {
				return Figures{}, fmt.Errorf("no job notified within %v, %d of %d collected", collectWait, done, jobs)
			}
			continue
		}
		quiet = time.Now()
		for range got {
			<-window
		}
		done += got
	}
	m.stop(&f)
	if err := <-submitErr; err != nil {
		return Figures{}, err
	}
	for _, n := range nodes {
		close(n.jobs)
	}
	wg.Wait()
	perNode := make([]int, len(nodes))
	for i, n := range nodes {
		perNode[i] = n.ran
	}
	f.shares(perNode)
	return f, nil
}
