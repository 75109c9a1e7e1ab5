package sched

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// lifeOp is one step of a job's life, driven the way the client and a node
// drive it: through the exported API and the node's reports.
type lifeOp string

const (
	opDispatch lifeOp = "dispatch" // a node gets one slot and takes the job
	opDone     lifeOp = "done"     // the node reports the job's result
	opLose     lifeOp = "lose"     // the node reports the job lost
	opUnsent   lifeOp = "unsent"   // the node hands the job back unstarted
	opTake     lifeOp = "take"     // NextNotified hands out the job's ID
	opForget   lifeOp = "forget"
	opRelease  lifeOp = "release"
	opClose    lifeOp = "close"
	opTimeout  lifeOp = "timeout" // the node reports the job ran past its timeout

	// Cancel, with the node (if it holds the job) answering so.
	opCancel          lifeOp = "cancel"           // the node: NotCancelled, it has started the job
	opCancelWithdrawn lifeOp = "cancel-withdrawn" // the node: Withdrawn, it dropped the job unstarted
	opCancelAbandoned lifeOp = "cancel-abandoned" // the node: Abandoned, it will still report
)

// lifeWant is where the job must be after its ops. What the exported API
// answers follows from it, and is checked too.
type lifeWant struct {
	state    jobState
	attempts int
	status   Status // when the job has its result
	message  string // a substring of Result.Message, when not ""
	dropped  bool   // gone from the scheduler: forgotten and finished
	notified bool   // its ID is still on the notification queue
	// cancelled is what each Cancel op returned, in order; asked says
	// which of them reached the node (it held the job).
	cancelled, asked []bool
}

func TestJobLife(t *testing.T) {
	const maxAttempts = 2
	tests := []struct {
		name   string
		notify bool
		ops    []lifeOp
		want   lifeWant
	}{
		// The ordinary lives.
		{"submitted with no room", false, nil,
			lifeWant{state: jobQueued}},
		{"dispatched", false, []lifeOp{opDispatch},
			lifeWant{state: jobSent}},
		{"done", false, []lifeOp{opDispatch, opDone},
			lifeWant{state: jobFinished, status: StatusDone}},
		{"notify done", true, []lifeOp{opDispatch, opDone},
			lifeWant{state: jobNotified, status: StatusDone, notified: true}},
		{"notify taken", true, []lifeOp{opDispatch, opDone, opTake},
			lifeWant{state: jobNotified, status: StatusDone}},
		{"notify released", true, []lifeOp{opDispatch, opDone, opTake, opRelease},
			lifeWant{state: jobFinished, status: StatusDone, dropped: true}},

		// Lost, unsent, and failed after MaxAttempts.
		{"lost is re-queued", false, []lifeOp{opDispatch, opLose},
			lifeWant{state: jobQueued, attempts: 1}},
		{"lost then done", false, []lifeOp{opDispatch, opLose, opDispatch, opDone},
			lifeWant{state: jobFinished, attempts: 1, status: StatusDone}},
		{"lost MaxAttempts times fails", false, []lifeOp{opDispatch, opLose, opDispatch, opLose},
			lifeWant{state: jobFinished, attempts: 1, status: StatusFailed, message: "after 2 attempts"}},
		{"notify lost MaxAttempts times is notified", true, []lifeOp{opDispatch, opLose, opDispatch, opLose},
			lifeWant{state: jobNotified, attempts: 1, status: StatusFailed, notified: true}},
		{"unsent is re-queued without an attempt", false,
			[]lifeOp{opDispatch, opUnsent, opDispatch, opUnsent, opDispatch, opUnsent},
			lifeWant{state: jobQueued}},
		{"unsent then lost twice fails", false,
			[]lifeOp{opDispatch, opUnsent, opDispatch, opLose, opDispatch, opUnsent, opDispatch, opLose},
			lifeWant{state: jobFinished, attempts: 1, status: StatusFailed, message: "after 2 attempts"}},

		// Forget in each state.
		{"forget queued", false, []lifeOp{opForget},
			lifeWant{state: jobQueued}},
		{"forget queued, then it runs", true, []lifeOp{opForget, opDispatch, opDone},
			lifeWant{state: jobFinished, status: StatusDone, dropped: true}},
		{"forget sent", false, []lifeOp{opDispatch, opForget},
			lifeWant{state: jobSent}},
		{"report for a forgotten job", false, []lifeOp{opDispatch, opForget, opDone},
			lifeWant{state: jobFinished, status: StatusDone, dropped: true}},
		{"report for a forgotten notify job skips notified", true, []lifeOp{opDispatch, opForget, opDone},
			lifeWant{state: jobFinished, status: StatusDone, dropped: true}},
		{"forgotten job lost is re-queued", false, []lifeOp{opDispatch, opForget, opLose},
			lifeWant{state: jobQueued, attempts: 1}},
		{"forgotten job failing is dropped", false, []lifeOp{opDispatch, opForget, opLose, opDispatch, opLose},
			lifeWant{state: jobFinished, attempts: 1, status: StatusFailed, dropped: true}},
		// The ID stays on the notification queue: the client finds no
		// result for it, and its Release does nothing.
		{"forget notified", true, []lifeOp{opDispatch, opDone, opForget},
			lifeWant{state: jobFinished, status: StatusDone, dropped: true, notified: true}},
		{"forget notified, taken", true, []lifeOp{opDispatch, opDone, opTake, opForget},
			lifeWant{state: jobFinished, status: StatusDone, dropped: true}},
		{"forget finished", false, []lifeOp{opDispatch, opDone, opForget},
			lifeWant{state: jobFinished, status: StatusDone, dropped: true}},
		{"forget twice", false, []lifeOp{opDispatch, opDone, opForget, opForget},
			lifeWant{state: jobFinished, status: StatusDone, dropped: true}},

		// Release: only a job with its result is released.
		{"release queued", true, []lifeOp{opRelease},
			lifeWant{state: jobQueued}},
		{"release sent", true, []lifeOp{opDispatch, opRelease},
			lifeWant{state: jobSent}},
		{"release notified before it is taken", true, []lifeOp{opDispatch, opDone, opRelease},
			lifeWant{state: jobFinished, status: StatusDone, dropped: true, notified: true}},
		{"release of a plain job running", false, []lifeOp{opDispatch, opRelease},
			lifeWant{state: jobSent}},
		{"release of a plain job finished forgets it", false, []lifeOp{opDispatch, opDone, opRelease},
			lifeWant{state: jobFinished, status: StatusDone, dropped: true}},
		{"release twice", true, []lifeOp{opDispatch, opDone, opTake, opRelease, opRelease},
			lifeWant{state: jobFinished, status: StatusDone, dropped: true}},

		// Close in each state, and the reports that come after it.
		{"close queued", false, []lifeOp{opClose},
			lifeWant{state: jobFinished, status: StatusCancelled, message: "destroyed"}},
		{"close queued notify", true, []lifeOp{opClose},
			lifeWant{state: jobFinished, status: StatusCancelled}},
		{"close sent", true, []lifeOp{opDispatch, opClose},
			lifeWant{state: jobFinished, status: StatusCancelled}},
		{"close re-queued after a loss", false, []lifeOp{opDispatch, opLose, opClose},
			lifeWant{state: jobFinished, attempts: 1, status: StatusCancelled}},
		{"close notified", true, []lifeOp{opDispatch, opDone, opClose},
			lifeWant{state: jobFinished, status: StatusDone}},
		{"close notified and taken, then release", true, []lifeOp{opDispatch, opDone, opTake, opClose, opRelease},
			lifeWant{state: jobFinished, status: StatusDone, dropped: true}},
		{"close finished", false, []lifeOp{opDispatch, opDone, opClose},
			lifeWant{state: jobFinished, status: StatusDone}},
		{"close forgotten queued", false, []lifeOp{opForget, opClose},
			lifeWant{state: jobFinished, status: StatusCancelled, dropped: true}},
		{"stale done after close", true, []lifeOp{opDispatch, opClose, opDone},
			lifeWant{state: jobFinished, status: StatusCancelled}},
		{"stale loss after close", false, []lifeOp{opDispatch, opClose, opLose},
			lifeWant{state: jobFinished, status: StatusCancelled}},
		{"stale unsent after close", false, []lifeOp{opDispatch, opClose, opUnsent},
			lifeWant{state: jobFinished, status: StatusCancelled}},
		{"stale done after close for a forgotten job", false, []lifeOp{opDispatch, opForget, opClose, opDone},
			lifeWant{state: jobFinished, status: StatusCancelled, dropped: true}},
		{"forget after close", false, []lifeOp{opDispatch, opClose, opForget},
			lifeWant{state: jobFinished, status: StatusCancelled, dropped: true}},

		// Timeouts: finished as timed out, never retried.
		{"timed out", false, []lifeOp{opDispatch, opTimeout},
			lifeWant{state: jobFinished, status: StatusTimedOut, message: "2s timeout"}},
		{"notify timed out is notified", true, []lifeOp{opDispatch, opTimeout},
			lifeWant{state: jobNotified, status: StatusTimedOut, message: "2s timeout", notified: true}},
		{"timed out after a loss", false, []lifeOp{opDispatch, opLose, opDispatch, opTimeout},
			lifeWant{state: jobFinished, attempts: 1, status: StatusTimedOut, message: "2s timeout"}},
		{"forgotten job timed out is dropped", false, []lifeOp{opDispatch, opForget, opTimeout},
			lifeWant{state: jobFinished, status: StatusTimedOut, dropped: true}},
		{"stale timeout after close", false, []lifeOp{opDispatch, opClose, opTimeout},
			lifeWant{state: jobFinished, status: StatusCancelled}},

		// Cancel in each state. The node is asked only about a job it holds.
		{"cancel queued", false, []lifeOp{opCancel},
			lifeWant{state: jobFinished, status: StatusCancelled, message: "cancelled",
				cancelled: []bool{true}, asked: []bool{false}}},
		{"cancel queued notify is notified", true, []lifeOp{opCancel},
			lifeWant{state: jobNotified, status: StatusCancelled, notified: true,
				cancelled: []bool{true}, asked: []bool{false}}},
		{"cancel queued notify, taken and released", true, []lifeOp{opCancel, opTake, opRelease},
			lifeWant{state: jobFinished, status: StatusCancelled, dropped: true,
				cancelled: []bool{true}, asked: []bool{false}}},
		{"cancel forgotten queued", true, []lifeOp{opForget, opCancel},
			lifeWant{state: jobFinished, status: StatusCancelled, dropped: true,
				cancelled: []bool{true}, asked: []bool{false}}},
		{"cancel re-queued after a loss", false, []lifeOp{opDispatch, opLose, opCancel},
			lifeWant{state: jobFinished, attempts: 1, status: StatusCancelled,
				cancelled: []bool{true}, asked: []bool{false}}},
		{"cancel twice", false, []lifeOp{opCancel, opCancel},
			lifeWant{state: jobFinished, status: StatusCancelled,
				cancelled: []bool{true, false}, asked: []bool{false, false}}},
		{"cancel sent, started", false, []lifeOp{opDispatch, opCancel},
			lifeWant{state: jobSent, cancelled: []bool{false}, asked: []bool{true}}},
		{"cancel sent, started, then done", false, []lifeOp{opDispatch, opCancel, opDone},
			lifeWant{state: jobFinished, status: StatusDone, cancelled: []bool{false}, asked: []bool{true}}},
		{"cancel sent, started, then lost is re-queued", false, []lifeOp{opDispatch, opCancel, opLose},
			lifeWant{state: jobQueued, attempts: 1, cancelled: []bool{false}, asked: []bool{true}}},
		{"cancel sent, withdrawn", false, []lifeOp{opDispatch, opCancelWithdrawn},
			lifeWant{state: jobFinished, status: StatusCancelled, cancelled: []bool{true}, asked: []bool{true}}},
		{"cancel sent notify, withdrawn", true, []lifeOp{opDispatch, opCancelWithdrawn},
			lifeWant{state: jobNotified, status: StatusCancelled, notified: true,
				cancelled: []bool{true}, asked: []bool{true}}},
		{"cancel sent, abandoned", false, []lifeOp{opDispatch, opCancelAbandoned},
			lifeWant{state: jobFinished, status: StatusCancelled, cancelled: []bool{true}, asked: []bool{true}}},
		{"stale done after abandon", true, []lifeOp{opDispatch, opCancelAbandoned, opTake, opDone},
			lifeWant{state: jobNotified, status: StatusCancelled, cancelled: []bool{true}, asked: []bool{true}}},
		{"stale loss after abandon is not re-queued", false, []lifeOp{opDispatch, opCancelAbandoned, opLose},
			lifeWant{state: jobFinished, status: StatusCancelled, cancelled: []bool{true}, asked: []bool{true}}},
		{"stale unsent after abandon", false, []lifeOp{opDispatch, opCancelAbandoned, opUnsent},
			lifeWant{state: jobFinished, status: StatusCancelled, cancelled: []bool{true}, asked: []bool{true}}},
		{"stale timeout after abandon", false, []lifeOp{opDispatch, opCancelAbandoned, opTimeout},
			lifeWant{state: jobFinished, status: StatusCancelled, cancelled: []bool{true}, asked: []bool{true}}},
		{"stale done after abandon of a forgotten job", false, []lifeOp{opDispatch, opForget, opCancelAbandoned, opDone},
			lifeWant{state: jobFinished, status: StatusCancelled, dropped: true,
				cancelled: []bool{true}, asked: []bool{true}}},
		{"cancel abandoned twice asks the node once", false, []lifeOp{opDispatch, opCancelAbandoned, opCancelAbandoned},
			lifeWant{state: jobFinished, status: StatusCancelled,
				cancelled: []bool{true, false}, asked: []bool{true, false}}},
		{"cancel done", false, []lifeOp{opDispatch, opDone, opCancel},
			lifeWant{state: jobFinished, status: StatusDone, cancelled: []bool{false}, asked: []bool{false}}},
		{"cancel notified", true, []lifeOp{opDispatch, opDone, opCancel},
			lifeWant{state: jobNotified, status: StatusDone, notified: true,
				cancelled: []bool{false}, asked: []bool{false}}},
		{"cancel timed out", false, []lifeOp{opDispatch, opTimeout, opCancel},
			lifeWant{state: jobFinished, status: StatusTimedOut, cancelled: []bool{false}, asked: []bool{false}}},
		{"cancel forgotten finished", false, []lifeOp{opDispatch, opDone, opForget, opCancel},
			lifeWant{state: jobFinished, status: StatusDone, dropped: true,
				cancelled: []bool{false}, asked: []bool{false}}},
		{"cancel after close", false, []lifeOp{opDispatch, opClose, opCancelWithdrawn},
			lifeWant{state: jobFinished, status: StatusCancelled, message: "destroyed",
				cancelled: []bool{false}, asked: []bool{false}}},
		{"close after cancel", true, []lifeOp{opCancel, opClose},
			lifeWant{state: jobFinished, status: StatusCancelled, message: "cancelled",
				cancelled: []bool{true}, asked: []bool{false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Config{MaxAttempts: maxAttempts})
			n := newFakeNode(s, "n")
			s.AddNode(n, 0) // the job stays queued until an opDispatch
			j := &Job{Group: "g", Notify: tt.notify, Args: []byte("x")}
			id := submit(t, s, j)
			held := false // the node holds j and owes a report
			var cancelled, asked []bool
			for i, op := range tt.ops {
				switch op {
				case opDispatch:
					s.SetCapacity(n, 1)
					if got := n.next(t); got != j {
						t.Fatalf("op %d: dispatched job %d, want %d", i, got.ID, id)
					}
					s.SetCapacity(n, 0) // so a lost job stays queued
					held = true
				case opDone, opLose, opUnsent, opTimeout:
					if !held {
						t.Fatalf("op %d: bad test: %s of a job the node does not hold", i, op)
					}
					switch op {
					case opDone:
						n.done(j)
					case opLose:
						n.lose(j, errors.New("worker died"))
					case opTimeout:
						n.finish(j, Outcome{Lost: errors.New("ran longer than its 2s timeout; its worker was killed"), TimedOut: true})
					default:
						n.finish(j, Outcome{Lost: errors.New("not connected"), Unsent: true})
					}
					held = false
				case opCancel, opCancelWithdrawn, opCancelAbandoned:
					answer := map[lifeOp]CancelResult{opCancel: NotCancelled, opCancelWithdrawn: Withdrawn, opCancelAbandoned: Abandoned}[op]
					n.setAnswer(answer)
					before := len(n.cancels)
					cancelled = append(cancelled, s.Cancel(id))
					wasAsked := len(n.cancels) > before
					asked = append(asked, wasAsked)
					if wasAsked && answer == Withdrawn {
						held = false // the node will not report it
					}
				case opTake:
					if ids, _ := s.NextNotified(10, 0); !slices.Equal(ids, []uint64{id}) {
						t.Fatalf("op %d: NextNotified = %v, want [%d]", i, ids, id)
					}
				case opForget:
					s.Forget(id)
				case opRelease:
					s.Release(id)
				case opClose:
					within(t, "Close", s.Close)
				}
			}
			if !slices.Equal(cancelled, tt.want.cancelled) {
				t.Errorf("Cancel returned %v, want %v", cancelled, tt.want.cancelled)
			}
			if !slices.Equal(asked, tt.want.asked) {
				t.Errorf("Cancel asked the node %v, want %v", asked, tt.want.asked)
			}
			if n.unlocked != 0 {
				t.Errorf("Cancel asked the node %d times without the scheduler's lock", n.unlocked)
			}
			checkLife(t, s, j, held, tt.want)
		})
	}
}

// checkLife checks the job's state and what every exported call answers
// for a job in that state.
func checkLife(t *testing.T, s *Scheduler, j *Job, held bool, want lifeWant) {
	t.Helper()
	id := j.ID
	s.mu.Lock()
	state, attempts, known := j.state, int(j.attempts), s.jobs.get(id) == j
	s.mu.Unlock()
	if state != want.state {
		t.Errorf("state %s, want %s", state, want.state)
	}
	if attempts != want.attempts {
		t.Errorf("attempts %d, want %d", attempts, want.attempts)
	}
	if known == want.dropped {
		t.Errorf("known to the scheduler: %v, want %v", known, !want.dropped)
	}
	finished := want.state == jobFinished
	r, ok := s.Result(id)
	if wantOK := want.state.hasResult() && !want.dropped; ok != wantOK {
		t.Errorf("Result ok = %v, want %v", ok, wantOK)
	} else if ok {
		if r.Status != want.status {
			t.Errorf("Result.Status = %d, want %d (message %q)", r.Status, want.status, r.Message)
		}
		if want.status == StatusDone && string(r.Data) != "done:x" {
			t.Errorf("Result.Data = %q, want %q", r.Data, "done:x")
		}
		if !strings.Contains(r.Message, want.message) {
			t.Errorf("Result.Message = %q, want it to contain %q", r.Message, want.message)
		}
	}
	if got := s.Wait(id, 0); got != finished {
		t.Errorf("Wait = %v, want %v", got, finished)
	}
	if got := s.WaitGroup("g", false, 0); got != finished {
		t.Errorf("WaitGroup = %v, want %v", got, finished)
	}
	if p, wantP := s.Pending(), map[bool]int{false: 1, true: 0}[finished]; p != wantP {
		t.Errorf("Pending = %d, want %d", p, wantP)
	}
	var wantQueued []uint64
	if want.state == jobQueued {
		wantQueued = []uint64{id}
	}
	if q := s.Queued(); !slices.Equal(q, wantQueued) {
		t.Errorf("Queued = %v, want %v", q, wantQueued)
	}
	if r, wantR := s.Stats()[0].Running, map[bool]int{false: 0, true: 1}[held]; r != wantR {
		t.Errorf("node running %d, want %d", r, wantR)
	}
	var wantIDs []uint64
	if want.notified {
		wantIDs = []uint64{id}
	}
	if ids, _ := s.NextNotified(10, 0); !slices.Equal(ids, wantIDs) {
		t.Errorf("NextNotified = %v, want %v", ids, wantIDs)
	}
}

// A Job is submitted once: submitting it again, pending or finished, is
// refused, and leaves its first life as it was.
func TestSubmitTwiceIsRefused(t *testing.T) {
	tests := []struct {
		name string
		done bool
	}{
		{"while queued", false},
		{"once finished", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Config{})
			n := newFakeNode(s, "n")
			s.AddNode(n, 0)
			j := &Job{Args: []byte("x")}
			id := submit(t, s, j)
			if tt.done {
				s.SetCapacity(n, 1)
				n.done(n.next(t))
			}
			if _, err := s.Submit(j); err == nil || !strings.Contains(err.Error(), "submitted once") {
				t.Fatalf("second Submit: %v, want an error", err)
			}
			if j.ID != id {
				t.Errorf("second Submit changed the ID to %d", j.ID)
			}
			if got, want := s.Pending(), map[bool]int{false: 1, true: 0}[tt.done]; got != want {
				t.Errorf("Pending = %d, want %d", got, want)
			}
			if tt.done {
				wantResult(t, s, id, StatusDone, "done:x")
			} else if q := s.Queued(); !slices.Equal(q, []uint64{id}) {
				t.Errorf("Queued = %v, want [%d]", q, id)
			}
		})
	}
}

// A Job that never meets a scheduler (a ppserver runs its clients' jobs
// that way) stays new, and a report of it to a scheduler is ignored.
func TestReportOfAJobNeverSubmitted(t *testing.T) {
	s := New(Config{})
	n := newFakeNode(s, "n")
	s.AddNode(n, 1)
	id := submit(t, s, &Job{Args: []byte("mine")})
	mine := n.next(t)
	stranger := &Job{ID: id, Args: []byte("stranger")} // same ID, another job
	noPanic(t, "Finish of a stranger", func() { s.Finish(n, stranger, Outcome{Data: []byte("wrong")}) })
	if stranger.state != jobNew {
		t.Errorf("stranger's state %s, want new", stranger.state)
	}
	if _, ok := s.Result(id); ok {
		t.Fatal("a stranger's report completed a job of the same ID")
	}
	s.Finish(n, mine, Outcome{Data: []byte("right")})
	wantResult(t, s, id, StatusDone, "right")
}

// The transitions refuse to start from a state they do not leave: such a
// call is a bug in the scheduler, and must not close a done channel twice
// or count a group out twice.
func TestTransitionsCheckTheirStartState(t *testing.T) {
	all := []jobState{jobNew, jobQueued, jobSent, jobNotified, jobFinished}
	tests := []struct {
		name string
		from []jobState // the states it may start from
		call func(s *Scheduler, j *Job)
	}{
		{"submit", []jobState{jobNew}, func(s *Scheduler, j *Job) { s.submitLocked(j) }},
		{"send", []jobState{jobQueued}, func(s *Scheduler, j *Job) {
			s.queue.PushBack(j)
			s.sendLocked(nil)
		}},
		{"cancel", []jobState{jobQueued, jobSent}, func(s *Scheduler, j *Job) {
			if j.state == jobQueued {
				s.queue.PushBack(j)
			}
			s.cancelLocked(j)
		}},
		{"lost", []jobState{jobSent}, func(s *Scheduler, j *Job) { s.lostLocked(j, Outcome{Lost: errors.New("x")}) }},
		{"complete", []jobState{jobQueued, jobSent}, func(s *Scheduler, j *Job) { s.completeLocked(j, Result{}) }},
		{"finish", []jobState{jobQueued, jobSent, jobNotified}, func(s *Scheduler, j *Job) { s.finishLocked(j) }},
		{"forget", []jobState{jobQueued, jobSent, jobNotified, jobFinished}, func(s *Scheduler, j *Job) { s.forgetLocked(j) }},
	}
	for _, tt := range tests {
		for _, st := range all {
			t.Run(tt.name+" from "+st.String(), func(t *testing.T) {
				s := New(Config{})
				j := &Job{ID: 7, state: st}
				if st != jobNew {
					s.jobs.put(j)
					s.all.add()
					s.groupLocked("").add()
				}
				panicked := func() (p bool) {
					defer func() { p = recover() != nil }()
					s.mu.Lock()
					defer s.mu.Unlock()
					tt.call(s, j)
					return false
				}()
				if want := !slices.Contains(tt.from, st); panicked != want {
					t.Errorf("panicked = %v, want %v", panicked, want)
				}
			})
		}
	}
}

func TestJobStateString(t *testing.T) {
	tests := []struct {
		st   jobState
		want string
	}{
		{jobNew, "new"},
		{jobQueued, "queued"},
		{jobSent, "sent"},
		{jobNotified, "notified"},
		{jobFinished, "finished"},
		{jobFinished + 1, "jobState(5)"},
	}
	for _, tt := range tests {
		if got := tt.st.String(); got != tt.want {
			t.Errorf("jobState(%d).String() = %q, want %q", uint8(tt.st), got, tt.want)
		}
	}
}
