// The test harness: a pool of fake workers, the outcomes it reports, and
// waits with a deadline.

package pool

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ppgo/ppgo/core/internal/fakeworker"
	"github.com/ppgo/ppgo/core/sched"
)

// deadline bounds every wait for something that should happen soon.
const deadline = 10 * time.Second

type report struct {
	job *sched.Job
	out sched.Outcome
}

// fakeReporter stands in for the scheduler: it records every outcome and
// the last capacity reported.
type fakeReporter struct {
	ch       chan report
	capacity atomic.Int64
}

func (r *fakeReporter) Finish(_ sched.Node, j *sched.Job, o sched.Outcome) { r.ch <- report{j, o} }

func (r *fakeReporter) SetCapacity(_ sched.Node, capacity int) { r.capacity.Store(int64(capacity)) }

// harness is a pool of fake workers, the hub they talk to, and the
// outcomes the pool reported.
type harness struct {
	t   *testing.T
	p   *Pool
	rep *fakeReporter
	hub *fakeworker.Hub

	mu    sync.Mutex
	funcs map[uint64]*sched.Func
	id    uint64
}

func newHarness(t *testing.T, mode string, workers int, tweak func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, rep: &fakeReporter{ch: make(chan report, 256)}, hub: fakeworker.NewHub(t, deadline), funcs: map[uint64]*sched.Func{}}
	argv, env := h.hub.Command(mode)
	cfg := Config{Argv: argv, Env: env, Workers: workers}
	if tweak != nil {
		tweak(&cfg)
	}
	p, err := New(cfg, h.rep)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.p = p
	t.Cleanup(p.Close)
	return h
}

func sourceOf(key uint64) string { return fmt.Sprintf("def f%d(): pass", key) }

// dispatch hands the pool a job of function key; every job of one key
// shares its *sched.Func, as the scheduler's do.
func (h *harness) dispatch(key uint64, args string) *sched.Job {
	j := h.newJob(key, args, 0)
	h.p.Dispatch(j)
	return j
}

// newJob makes a job of function key with a timeout, not yet dispatched.
func (h *harness) newJob(key uint64, args string, timeout time.Duration) *sched.Job {
	h.mu.Lock()
	defer h.mu.Unlock()
	f := h.funcs[key]
	if f == nil {
		f = &sched.Func{Key: key, Source: []byte(sourceOf(key))}
		h.funcs[key] = f
	}
	h.id++
	return &sched.Job{ID: h.id, Func: f, Args: []byte(args), Timeout: timeout}
}

// pipe hands j straight to the pool's one busy worker, behind the job it
// runs, as Dispatch does while jobs are short (then only within a
// millisecond of the running job's start: too soon for a test to count on).
func (h *harness) pipe(j *sched.Job) {
	h.t.Helper()
	h.p.mu.Lock()
	defer h.p.mu.Unlock()
	var busy []*worker
	for _, w := range h.p.workers {
		if len(w.inflight) > 0 && !w.retiring {
			busy = append(busy, w)
		}
	}
	if len(busy) != 1 {
		h.t.Fatalf("pipe: %d busy workers, want 1", len(busy))
	}
	h.p.assignLocked(busy[0], j)
}

// none fails if the pool has reported an outcome not taken yet.
func (h *harness) none() {
	h.t.Helper()
	select {
	case r := <-h.rep.ch:
		h.t.Fatalf("unexpected outcome for job %d (%q): %+v", r.job.ID, trunc(r.job.Args), r.out)
	default:
	}
}

// timedOut waits for the next outcome and checks it reports j timed out,
// naming its limit.
func (h *harness) timedOut(j *sched.Job) {
	h.t.Helper()
	r := h.next()
	if r.job != j {
		h.t.Fatalf("outcome for job %d (%q), want job %d (%q) timed out", r.job.ID, trunc(r.job.Args), j.ID, trunc(j.Args))
	}
	if !r.out.TimedOut || r.out.Lost == nil {
		h.t.Fatalf("job %d: %+v, want it timed out", j.ID, r.out)
	}
	if want := fmt.Sprintf("ran longer than its %v timeout; its worker", j.Timeout); !strings.Contains(r.out.Lost.Error(), want) {
		h.t.Errorf("job %d timed out with %q, which does not say %q", j.ID, r.out.Lost, want)
	}
}

func (h *harness) next() report {
	h.t.Helper()
	select {
	case r := <-h.rep.ch:
		return r
	case <-time.After(deadline):
		h.t.Fatalf("no outcome reported within %v", deadline)
		return report{}
	}
}

// done waits for the next outcome and checks it is j's successful reply.
func (h *harness) done(j *sched.Job) fakeworker.Reply {
	h.t.Helper()
	r := h.next()
	if r.job != j {
		h.t.Fatalf("outcome for job %d (%q), want job %d (%q)", r.job.ID, trunc(r.job.Args), j.ID, trunc(j.Args))
	}
	return h.reply(r)
}

// reply checks r is a well-formed successful outcome and decodes it.
func (h *harness) reply(r report) fakeworker.Reply {
	h.t.Helper()
	if r.out.Lost != nil {
		h.t.Fatalf("job %d (%q) lost: %v", r.job.ID, trunc(r.job.Args), r.out.Lost)
	}
	var rep fakeworker.Reply
	if err := json.Unmarshal(r.out.Data, &rep); err != nil {
		h.t.Fatalf("job %d: result %q: %v", r.job.ID, r.out.Data, err)
	}
	if rep.ID != r.job.ID || rep.Key != r.job.Func.Key || rep.Args != string(r.job.Args) {
		h.t.Fatalf("job %d key %d args %q: worker saw id %d key %d args %q", r.job.ID, r.job.Func.Key, trunc(r.job.Args), rep.ID, rep.Key, trunc([]byte(rep.Args)))
	}
	if rep.HasSource && rep.Source != sourceOf(rep.Key) {
		h.t.Fatalf("job %d: worker got source %q, want %q", r.job.ID, rep.Source, sourceOf(rep.Key))
	}
	if want := fakeworker.Elapsed(r.job.ID, string(r.job.Args)); r.out.Elapsed != want {
		h.t.Fatalf("job %d: Elapsed %v, want %v", r.job.ID, r.out.Elapsed, want)
	}
	return rep
}

// lost waits for the next outcome and checks it reports j lost with an
// error containing every one of want.
func (h *harness) lost(j *sched.Job, want ...string) error {
	h.t.Helper()
	r := h.next()
	if r.job != j {
		h.t.Fatalf("outcome for job %d, want job %d", r.job.ID, j.ID)
	}
	if r.out.Lost == nil || r.out.TimedOut {
		h.t.Fatalf("job %d (%q) was not lost: data %q, timed out %v", j.ID, j.Args, r.out.Data, r.out.TimedOut)
	}
	for _, w := range want {
		if !strings.Contains(r.out.Lost.Error(), w) {
			h.t.Errorf("job %d lost with %q, which does not contain %q", j.ID, r.out.Lost, w)
		}
	}
	return r.out.Lost
}

func TestMain(m *testing.M) {
	fakeworker.RunIfWorker()
	os.Exit(m.Run())
}
