package sched

import (
	"slices"
	"testing"
)

// queueOp is one step of a queue script: push back, push front, pop,
// drain, or remove a job.
type queueOp struct {
	op string // "back", "front", "pop", "drain", "remove"
	n  int    // how many jobs to push or pop; the ID to remove
}

// removeEach removes the jobs with these IDs, in this order.
func removeEach(ids ...uint64) []queueOp {
	var ops []queueOp
	for _, id := range ids {
		ops = append(ops, queueOp{"remove", int(id)})
	}
	return ops
}

func TestJobQueueOrder(t *testing.T) {
	tests := []struct {
		name string
		ops  []queueOp
		// want is the IDs popped (and drained), in order.
		want []uint64
	}{
		{
			name: "empty pop",
			ops:  []queueOp{{"pop", 1}},
			want: nil,
		},
		{
			name: "fifo",
			ops:  []queueOp{{"back", 5}, {"pop", 5}},
			want: []uint64{1, 2, 3, 4, 5},
		},
		{
			name: "front goes first",
			ops:  []queueOp{{"back", 3}, {"front", 1}, {"pop", 4}},
			want: []uint64{4, 1, 2, 3},
		},
		{
			name: "front into empty queue",
			ops:  []queueOp{{"front", 3}, {"pop", 3}},
			want: []uint64{3, 2, 1},
		},
		{
			name: "interleaved pops wrap the ring",
			ops: []queueOp{
				{"back", 60}, {"pop", 50}, {"back", 40}, // tail wraps past the end of 64
				{"front", 2}, {"pop", 52},
			},
			want: concat(seq(1, 50), []uint64{102, 101}, seq(51, 100)),
		},
		{
			name: "grow while wrapped keeps order",
			ops: []queueOp{
				{"back", 64}, {"pop", 10}, {"back", 10}, // full, head at 10
				{"back", 1},  // grow from 64 to 128
				{"front", 1}, // head moves back across index 0
				{"drain", 0},
			},
			want: concat(seq(1, 10), []uint64{76}, seq(11, 75)),
		},
		{
			name: "grow from front pushes",
			ops:  []queueOp{{"front", 130}, {"drain", 0}},
			want: seqDown(130, 1),
		},
		{
			name: "drain then reuse",
			ops:  []queueOp{{"back", 3}, {"drain", 0}, {"back", 2}, {"front", 1}, {"drain", 0}},
			want: []uint64{1, 2, 3, 6, 4, 5},
		},

		// Remove, from anywhere, however the ring has turned since.
		{
			name: "remove from the middle",
			ops:  []queueOp{{"back", 5}, {"remove", 3}, {"pop", 5}},
			want: []uint64{1, 2, 4, 5},
		},
		{
			name: "remove the head",
			ops:  []queueOp{{"back", 3}, {"remove", 1}, {"pop", 1}, {"drain", 0}},
			want: []uint64{2, 3},
		},
		{
			name: "remove the tail, then push",
			ops:  []queueOp{{"back", 3}, {"remove", 3}, {"back", 1}, {"drain", 0}},
			want: []uint64{1, 2, 4},
		},
		{
			name: "remove a job pushed at the front",
			ops:  []queueOp{{"back", 2}, {"front", 1}, {"remove", 3}, {"front", 1}, {"drain", 0}},
			want: []uint64{4, 1, 2},
		},
		{
			name: "remove every job, then reuse",
			ops:  concatOps(queueOp{"back", 4}, removeEach(2, 4, 1, 3), queueOp{"back", 2}, queueOp{"drain", 0}),
			want: []uint64{5, 6},
		},
		{
			name: "remove after the ring wrapped and grew",
			ops: concatOps(
				queueOp{"back", 64}, queueOp{"pop", 10}, queueOp{"back", 10}, // full, head at 10
				queueOp{"back", 1}, queueOp{"front", 1}, // grown, head across index 0
				removeEach(76, 11, 74, 75, 40), queueOp{"drain", 0},
			),
			want: concat(seq(1, 10), seq(12, 39), seq(41, 73)),
		},
		{
			name: "holes are squeezed out when the ring fills",
			ops: concatOps(
				queueOp{"back", 64}, removeEach(seq(2, 63)...), // holes between 1 and 64
				queueOp{"back", 62}, queueOp{"drain", 0}, // fills the ring: squeezed, not grown
			),
			want: concat([]uint64{1, 64}, seq(65, 126)),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var q jobQueue
			var next uint64
			var got []uint64
			pushed := 0
			jobs := map[uint64]*Job{}
			for _, op := range tt.ops {
				switch op.op {
				case "back", "front":
					for range op.n {
						next++
						j := &Job{ID: next}
						jobs[next] = j
						if op.op == "back" {
							q.PushBack(j)
						} else {
							q.PushFront(j)
						}
						pushed++
					}
				case "remove":
					q.Remove(jobs[uint64(op.n)])
					pushed--
				case "pop":
					for range op.n {
						if j := q.PopFront(); j != nil {
							got = append(got, j.ID)
							pushed--
						}
					}
				case "drain":
					ids := q.IDs()
					var drained []uint64
					for _, j := range q.Drain() {
						drained = append(drained, j.ID)
						pushed--
					}
					if !slices.Equal(ids, drained) {
						t.Fatalf("IDs before Drain = %v, Drain gave %v", ids, drained)
					}
					got = append(got, drained...)
					if q.Len() != 0 {
						t.Fatalf("Len after Drain = %d, want 0", q.Len())
					}
				}
				if q.Len() != pushed {
					t.Fatalf("after %v: Len = %d, want %d", op, q.Len(), pushed)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("popped %v\nwant       %v", got, tt.want)
			}
		})
	}
}

// A popped slot must not keep the job alive: the queue drops its pointer.
func TestJobQueueClearsPoppedSlots(t *testing.T) {
	var q jobQueue
	for i := range 10 {
		q.PushBack(&Job{ID: uint64(i)})
	}
	q.PopFront()
	q.PopFront()
	q.Drain()
	for i, j := range q.buf {
		if j != nil {
			t.Errorf("slot %d still holds job %d", i, j.ID)
		}
	}
	if q.PopFront() != nil {
		t.Error("PopFront on a drained queue returned a job")
	}
}

// The ring grows only when its jobs fill it, not its holes: a queue whose
// jobs are pushed and cancelled for ever stays small.
func TestJobQueueHolesDoNotGrowTheRing(t *testing.T) {
	var q jobQueue
	q.PushBack(&Job{ID: 0}) // stays at the head, so the holes behind it are not trimmed there
	last := &Job{ID: 1}
	q.PushBack(last)
	for id := uint64(2); id < 10000; id++ {
		j := &Job{ID: id}
		q.PushBack(j)
		q.Remove(last) // a hole in the middle: the new job is the tail
		last = j
	}
	if ids := q.IDs(); !slices.Equal(ids, []uint64{0, 9999}) {
		t.Fatalf("IDs = %v, want [0 9999]", ids)
	}
	if n := len(q.buf); n > 64 {
		t.Errorf("ring of %d slots for %d jobs", n, q.Len())
	}
}

// Removing a job that is not queued here is a bug in the scheduler: it
// panics rather than punch a hole where another job is.
func TestJobQueueRemoveOfAStrangerPanics(t *testing.T) {
	tests := []struct {
		name  string
		setup func(q *jobQueue) *Job
	}{
		{"popped", func(q *jobQueue) *Job {
			j := &Job{ID: 1}
			q.PushBack(j)
			q.PushBack(&Job{ID: 2})
			q.PopFront()
			return j
		}},
		{"removed twice", func(q *jobQueue) *Job {
			j := &Job{ID: 2}
			q.PushBack(&Job{ID: 1})
			q.PushBack(j)
			q.PushBack(&Job{ID: 3})
			q.Remove(j)
			return j
		}},
		{"never queued, same ticket", func(q *jobQueue) *Job {
			q.PushBack(&Job{ID: 1})
			return &Job{ID: 9} // ticket 0, the head's
		}},
		{"empty queue", func(q *jobQueue) *Job { return &Job{ID: 1} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var q jobQueue
			j := tt.setup(&q)
			before := q.IDs()
			defer func() {
				if recover() == nil {
					t.Error("Remove did not panic")
				}
				if after := q.IDs(); !slices.Equal(after, before) {
					t.Errorf("queue %v after the failed Remove, want %v", after, before)
				}
			}()
			q.Remove(j)
		})
	}
}

func concatOps(parts ...any) []queueOp {
	var ops []queueOp
	for _, p := range parts {
		switch p := p.(type) {
		case queueOp:
			ops = append(ops, p)
		case []queueOp:
			ops = append(ops, p...)
		}
	}
	return ops
}

func seq(from, to uint64) []uint64 {
	var s []uint64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

func seqDown(from, to uint64) []uint64 {
	s := seq(to, from)
	slices.Reverse(s)
	return s
}

func concat(parts ...[]uint64) []uint64 { return slices.Concat(parts...) }
