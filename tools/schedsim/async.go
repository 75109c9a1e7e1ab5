package main

import (
	"fmt"
	"sync"

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

	f := Figures{Shape: sh, Mode: mode, Jobs: jobs}
	m := startMeter()
	if err := drive(s, jobs, out, newJob); err != nil {
		return Figures{}, err
	}
	m.stop(&f)
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
