package jobserver

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ppgo/ppgo/core/sched"
)

func TestTimeoutFromSeconds(t *testing.T) {
	tests := []struct {
		seconds float64
		want    time.Duration
		err     bool
	}{
		{0, 0, false},
		{2, 2 * time.Second, false},
		{0.25, 250 * time.Millisecond, false},
		{1e-12, time.Nanosecond, false}, // not rounded down to "no limit"
		{1.5e-9, 2 * time.Nanosecond, false},
		{math.MaxInt64 / 1e9, 0, false}, // as long as a Duration holds, or longer: no limit
		{1e300, 0, false},
		{math.Inf(1), 0, false},
		{-1, 0, true},
		{math.Copysign(0, -1), 0, false},
		{math.Inf(-1), 0, true},
		{math.NaN(), 0, true},
	}
	for _, tt := range tests {
		got, err := TimeoutFromSeconds(tt.seconds)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("TimeoutFromSeconds(%v) = %v, %v; want %v, error %v", tt.seconds, got, err, tt.want, tt.err)
		}
	}
}

// Through the whole client engine: a job past its timeout finishes timed
// out and is not run again; Cancel takes back what has not started and
// leaves what runs; the local pool's slots come back either way.
func TestServerTimeoutAndCancel(t *testing.T) {
	s, h := newServer(t, 1, 0)
	s.Register(1, []byte("src"))
	if _, err := s.Submit(1, nil, "", false, -time.Second); err == nil {
		t.Error("Submit with a negative timeout succeeded")
	}

	hung, err := s.Submit(1, []byte("hang"), "g", false, 150*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	r := result(t, s, hung, sched.StatusTimedOut)
	if !strings.Contains(r.Message, "ran longer than its 150ms timeout; its worker") {
		t.Errorf("timed-out job's message %q", r.Message)
	}

	running := submit(t, s, 1, "block", "g", false)
	blocked := holdBlock(t, h)
	queued := submit(t, s, 1, "queued", "g", false)
	callback := submit(t, s, 1, "queued callback", "g", true)
	if s.Cancel(running) {
		t.Error("Cancel of a running job = true")
	}
	for _, id := range []uint64{queued, callback} {
		if !s.Cancel(id) {
			t.Errorf("Cancel of queued job %d = false", id)
		}
	}
	result(t, s, queued, sched.StatusCancelled)
	// A callback job is notified, so its callback runner hears of it.
	if ids, _ := s.NextNotified(10, deadline); !slices.Equal(ids, []uint64{callback}) {
		t.Fatalf("NextNotified = %v, want [%d]", ids, callback)
	}
	if res, ok := s.Result(callback); !ok || res.Status != sched.StatusCancelled {
		t.Errorf("callback job's result %+v, %v; want cancelled", res, ok)
	}
	s.Release(callback)
	if s.Cancel(queued) || s.Cancel(9999) {
		t.Error("Cancel of a finished or unknown job = true")
	}
	if q := s.Queued(); len(q) != 0 {
		t.Errorf("Queued = %v after the cancels", q)
	}
	blocked.Release()
	reply(t, s, running)
	if !s.WaitGroup("g", false, deadline) || s.Pending() != 0 {
		t.Errorf("group still pending: %d", s.Pending())
	}
	if st := s.Nodes()[0]; st.Running != 0 || st.Jobs != 1 {
		t.Errorf("local node %+v, want nothing running and one job done", st)
	}
}
