package sched

import (
	"testing"
	"time"
)

// Wait polls for waitSpin while polls see their jobs finish, halves its
// poll each time one runs out (a busy machine), down to minWaitSpin, and
// polls for waitSpin again on every spinProbe-th wait, or once a poll
// succeeds.
func TestSpinPolicyAdapts(t *testing.T) {
	var p spinPolicy
	finished := make(chan struct{})
	close(finished)
	running := make(chan struct{})
	budget := func() time.Duration { return time.Duration(p.budget.Load()) }

	if !p.wait(finished, -1) || budget() != waitSpin {
		t.Fatalf("after a poll that saw its job finish: budget %v, want %v", budget(), waitSpin)
	}
	want := waitSpin
	for range 8 {
		if p.waits.Load()%spinProbe == spinProbe-1 {
			p.waits.Add(1) // not the probe: this loop checks the halving
		}
		if p.wait(running, -1) {
			t.Fatal("a poll saw an open channel closed")
		}
		want = max(want/2, minWaitSpin)
		if budget() != want {
			t.Fatalf("after a poll ran out: budget %v, want %v", budget(), want)
		}
	}
	if want != minWaitSpin {
		t.Fatalf("8 polls that ran out left the budget at %v, not %v", want, minWaitSpin)
	}
	// A caller's timeout shorter than the budget says nothing of the machine.
	p.budget.Store(int64(waitSpin))
	if p.wait(running, time.Microsecond); budget() != waitSpin {
		t.Fatalf("a wait cut short by its timeout changed the budget to %v", budget())
	}
	// The probe polls for waitSpin even at the lowest budget: if it runs
	// out, the budget stays low; if it sees its job finish, it is back.
	probe := func(done <-chan struct{}) bool {
		for p.waits.Load()%spinProbe != spinProbe-1 {
			p.waits.Add(1)
		}
		return p.wait(done, -1)
	}
	p.budget.Store(int64(minWaitSpin))
	if probe(running) || budget() != minWaitSpin {
		t.Fatalf("after a probe that ran out: budget %v, want %v", budget(), minWaitSpin)
	}
	if !probe(finished) || budget() != waitSpin {
		t.Fatalf("after a probe that saw its job finish: budget %v, want %v", budget(), waitSpin)
	}
}
