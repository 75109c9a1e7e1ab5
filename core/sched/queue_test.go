package sched

import (
	"slices"
	"testing"
)

// queueOp is one step of a queue script: push back, push front, or pop.
type queueOp struct {
	op string // "back", "front", "pop", "drain"
	n  int    // how many jobs to push or pop
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var q jobQueue
			var next uint64
			var got []uint64
			pushed := 0
			for _, op := range tt.ops {
				switch op.op {
				case "back", "front":
					for range op.n {
						next++
						if op.op == "back" {
							q.PushBack(&Job{ID: next})
						} else {
							q.PushFront(&Job{ID: next})
						}
						pushed++
					}
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
