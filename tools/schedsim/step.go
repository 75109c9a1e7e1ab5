package main

import (
	"fmt"

	"github.com/ppgo/ppgo/core/sched"
)

// The step simulation runs the scheduler on one goroutine: nodes take
// note of the jobs they are dispatched, and the loop finishes them in the
// order they were dispatched, across all nodes, submitting a new job for
// each finished one. Nothing else runs, so its CPU time per job is the
// scheduler's own: Submit, the choice of node, Finish, and the client's
// collecting and releasing.

// flight is a dispatched job and the node that runs it.
type flight struct {
	node *stepNode
	job  *sched.Job
}

// flights is a FIFO of dispatched jobs.
type flights struct {
	buf  []flight
	head int
}

func (q *flights) push(f flight) { q.buf = append(q.buf, f) }

func (q *flights) len() int { return len(q.buf) - q.head }

func (q *flights) pop() flight {
	f := q.buf[q.head]
	q.buf[q.head] = flight{}
	q.head++
	if q.head >= len(q.buf)/2 && q.head > 1024 { // reuse the front half
		n := copy(q.buf, q.buf[q.head:])
		clear(q.buf[n:])
		q.buf, q.head = q.buf[:n], 0
	}
	return f
}

// stepNode records the jobs it is dispatched on the simulation's FIFO.
type stepNode struct {
	name    string
	running *flights
	ran     int // jobs dispatched to it
}

func (n *stepNode) Name() string { return n.name }

func (n *stepNode) Dispatch(j *sched.Job) {
	n.ran++
	n.running.push(flight{node: n, job: j})
}

func (n *stepNode) Cancel(*sched.Job) sched.CancelResult { return sched.NotCancelled }

// runStep measures jobs job lives on sh with the client keeping out jobs
// submitted and not yet collected. With out above the cluster's slots
// every slot a job frees is filled from the queue at once (saturated);
// with out below, the queue stays empty and each new job goes straight to
// the node with the most free slots.
func runStep(sh Shape, jobs, out int, mode string) (Figures, error) {
	var running flights
	s, nodes := newScheduler(sh, func(_ *sched.Scheduler, i int) *stepNode {
		return &stepNode{name: fmt.Sprintf("node%d", i), running: &running}
	})
	defer s.Close()
	for range out {
		if err := submit(s); err != nil {
			return Figures{}, err
		}
	}
	// Run the cluster through once before measuring, so every node has
	// had jobs and the scheduler's maps and buffers have their size.
	if err := steps(s, &running, sh.Slots()); err != nil {
		return Figures{}, err
	}
	for _, n := range nodes {
		n.ran = 0
	}
	f := Figures{Shape: sh, Mode: mode, Jobs: jobs}
	m := startMeter()
	if err := steps(s, &running, jobs); err != nil {
		return Figures{}, err
	}
	m.stop(&f)
	perNode := make([]int, len(nodes))
	for i, n := range nodes {
		perNode[i] = n.ran
	}
	f.shares(perNode)
	return f, nil
}

// steps finishes the oldest running job and submits a new one, n times,
// collecting notifications in batches as a client does.
func steps(s *sched.Scheduler, running *flights, n int) error {
	notified := 0
	for i := range n {
		if running.len() == 0 {
			return fmt.Errorf("step %d: no job running", i)
		}
		f := running.pop()
		s.Finish(f.node, f.job, sched.Outcome{Data: payload})
		notified++
		if err := submit(s); err != nil {
			return err
		}
		if notified == collectBatch || i == n-1 {
			for notified > 0 {
				got, err := collect(s, notified, 0)
				if err != nil {
					return err
				}
				if got == 0 {
					return fmt.Errorf("step %d: %d finished jobs not notified", i, notified)
				}
				notified -= got
			}
		}
	}
	return nil
}
