package remote

import (
	"errors"
	"strings"
	"testing"

	"github.com/ppgo/ppgo/core/wire"
)

// A paused node hangs up with its jobs handed back, says why, and does not
// dial again until resumed; then it connects at once and takes work again.
func TestPauseHandsJobsBackAndResumeRedials(t *testing.T) {
	t.Parallel()
	srv := newFakeServer(t, secret, offer)
	r, rep, evs := newNode(t, srv.addr, func(c *Config) { c.Name = "name:1 (addr)" })
	p := srv.accept(t)
	rep.capacity(t, offer.Credits)
	if ev := evs.next(t, Connected); ev.Addr != "name:1 (addr)" {
		t.Errorf("Connected event names %q, want the node's Name", ev.Addr)
	}

	sent, queued := newJob(1, 7, "sent"), newJob(2, 7, "queued")
	r.Dispatch(sent)
	if j := p.job(); j.ID != sent.ID {
		t.Fatalf("node got job %d, want %d", j.ID, sent.ID)
	}
	reason := errors.New("no longer among the addresses of name")
	r.Pause(reason)
	r.Dispatch(queued) // after the pause: never reaches the wire
	p.closed()

	lost, zeroed := map[uint64]call{}, false
	for len(lost) < 2 || !zeroed {
		c := rep.next(t)
		if c.job == nil {
			zeroed = zeroed || c.capacity == 0
			continue
		}
		lost[c.job.ID] = c
	}
	if c := lost[sent.ID]; c.job == nil || c.out.Unsent || !errors.Is(c.out.Lost, reason) {
		t.Errorf("sent job: %v, want lost (not unsent) because of the pause", c)
	}
	if c := lost[queued.ID]; c.job == nil || !c.out.Unsent {
		t.Errorf("job dispatched while paused: %v, want handed back unsent", c)
	}
	ev := evs.next(t, Disconnected)
	if !strings.Contains(ev.String(), reason.Error()) || ev.Requeued != 1 {
		t.Errorf("Disconnected event %q (%d re-queued), want the reason and 1 re-queued", ev, ev.Requeued)
	}
	if !r.Paused() || r.State().Connected {
		t.Errorf("paused node: paused %v, state %+v", r.Paused(), r.State())
	}

	// Kicks and redial backoffs do not wake a paused node.
	r.Kick()
	select {
	case c := <-srv.conns:
		t.Fatalf("a paused node dialled: connection %v", c)
	default:
	}
	evs.none(t)

	r.Resume()
	p = srv.accept(t)
	rep.capacity(t, offer.Credits)
	evs.next(t, Connected)
	again := newJob(3, 7, "again")
	r.Dispatch(again)
	if j := p.job(); j.ID != again.ID {
		t.Fatalf("node got job %d, want %d", j.ID, again.ID)
	}
	p.send(&wire.Result{ID: again.ID, Status: wire.StatusDone, Data: []byte("ok")})
	if c := rep.finish(t); c.job != again || string(c.out.Data) != "ok" {
		t.Errorf("after resuming: %v", c)
	}
}

// A node paused while it cannot connect stops trying and says nothing
// more; resumed, it tries again at once.
func TestPauseWhileUnreachable(t *testing.T) {
	t.Parallel()
	addr, dials := hangUp(t)
	r, _, evs := newNode(t, addr, nil)
	<-dials
	evs.next(t, Unreachable)
	r.Pause(errors.New("gone"))
	for len(dials) > 0 { // a redial that raced the pause
		<-dials
	}
	r.Kick()
	evs.none(t)
	r.Resume()
	<-dials
}
