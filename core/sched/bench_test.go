package sched

import "testing"

// instantNode completes every job inside Dispatch, so a benchmark op is the
// scheduler's own work: Submit, dispatch, Finish and the client's side.
type instantNode struct{ s *Scheduler }

func (n *instantNode) Name() string             { return "instant" }
func (n *instantNode) Dispatch(j *Job)          { n.s.Finish(n, j, Outcome{Data: j.Args}) }
func (n *instantNode) Cancel(*Job) CancelResult { return NotCancelled }

// holdNode keeps the one job it is given for ever.
type holdNode struct{}

func (holdNode) Name() string             { return "hold" }
func (holdNode) Dispatch(*Job)            {}
func (holdNode) Cancel(*Job) CancelResult { return NotCancelled }

// BenchmarkSubmitFinish is one job's whole life through the scheduler, the
// way the client drives it: plain jobs are waited for, read and forgotten;
// notify jobs come off the notification queue and are released. With busy
// set, one job that never ends keeps the group pending, as while a client
// has many jobs out; without, every op empties the group and the scheduler,
// which costs their idle channels.
func BenchmarkSubmitFinish(b *testing.B) {
	tests := []struct {
		name   string
		notify bool
		busy   bool
	}{
		{"plain", false, false},
		{"plain busy", false, true},
		{"notify", true, false},
		{"notify busy", true, true},
	}
	args := []byte("args")
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			s := New(Config{})
			pending := 0
			if tt.busy {
				// Added first, it wins the tie for the first job.
				s.AddNode(holdNode{}, 1)
				if _, err := s.Submit(&Job{}); err != nil {
					b.Fatal(err)
				}
				pending = 1
			}
			s.AddNode(&instantNode{s: s}, 1)
			b.ReportAllocs()
			for b.Loop() {
				id, err := s.Submit(&Job{Args: args, Notify: tt.notify})
				if err != nil {
					b.Fatal(err)
				}
				if tt.notify {
					ids, _ := s.NextNotified(1, 0)
					if len(ids) != 1 || ids[0] != id {
						b.Fatalf("NextNotified = %v, want [%d]", ids, id)
					}
					s.Release(id)
					continue
				}
				if !s.Wait(id, 0) {
					b.Fatalf("job %d not finished after a synchronous Finish", id)
				}
				if r, ok := s.Result(id); !ok || r.Status != StatusDone {
					b.Fatalf("job %d: result %+v, %v", id, r, ok)
				}
				s.Forget(id)
			}
			if p := s.Pending(); p != pending {
				b.Fatalf("Pending = %d, want %d", p, pending)
			}
		})
	}
}
