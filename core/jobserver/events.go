package jobserver

import (
	"sync"
	"time"
)

// Event levels, as Python's logging numbers them.
const (
	LevelInfo    = 20
	LevelWarning = 30
)

// maxQueuedEvents bounds the event queue when nobody drains it; the oldest
// events are dropped first.
const maxQueuedEvents = 1000

// Event is something the client's user should hear about, such as a node
// refusing the secret.
type Event struct {
	Level   int
	Message string
}

// eventQueue hands events from node goroutines to the one thread that
// reports them to the user.
type eventQueue struct {
	mu     sync.Mutex
	events []Event
	closed bool
	wake   chan struct{} // capacity 1
}

func newEventQueue() *eventQueue {
	return &eventQueue{wake: make(chan struct{}, 1)}
}

func (q *eventQueue) push(e Event) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	if len(q.events) >= maxQueuedEvents {
		q.events = q.events[1:]
	}
	q.events = append(q.events, e)
	q.signal()
}

func (q *eventQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.signal()
}

func (q *eventQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// next pops the oldest event, waiting up to timeout (<0: no limit). got
// says whether there was one; ok is false once closed and drained.
func (q *eventQueue) next(timeout time.Duration) (e Event, got, ok bool) {
	var deadline <-chan time.Time
	if timeout >= 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}
	for {
		q.mu.Lock()
		if len(q.events) > 0 {
			e = q.events[0]
			q.events = q.events[1:]
			more := len(q.events) > 0
			q.mu.Unlock()
			if more {
				q.signal()
			}
			return e, true, true
		}
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return Event{}, false, false
		}
		select {
		case <-q.wake:
		case <-deadline:
			return Event{}, false, true
		}
	}
}
