package sched

import "fmt"

// jobQueue is a FIFO ring buffer of jobs that can also put a job back at
// its head (a re-queued job goes first: it has waited longest) and take a
// job out from anywhere (a cancelled one).
//
// Remove costs O(1), so that cancelling every job of a long queue, one
// call each (an executor shut down with cancel_futures), costs no more
// than dispatching them. Each queued job holds a ticket: its place counted
// from a fixed origin, so that it sits at offset ticket-first from the
// head, wherever the ring has turned or grown since. Remove leaves a hole
// (a nil slot) that PopFront, Drain and IDs skip; holes at either end are
// trimmed at once, and those in the middle go when the ring next fills.
type jobQueue struct {
	buf   []*Job
	head  int   // index in buf of the head slot
	slots int   // slots in use from head on, holes included
	holes int   // nil slots among them
	first int64 // the ticket of the head slot
}

// Len is the number of jobs queued.
func (q *jobQueue) Len() int { return q.slots - q.holes }

// at returns the index in buf of the slot offset places behind the head.
func (q *jobQueue) at(offset int) int { return (q.head + offset) % len(q.buf) }

// makeRoom grows the ring when it is full, or squeezes out its holes when
// they are at least half of it: the buffer never holds more holes than
// jobs for long.
func (q *jobQueue) makeRoom() {
	if q.slots < len(q.buf) {
		return
	}
	n := len(q.buf)
	if q.holes*2 < q.slots || n == 0 {
		n = max(2*n, 64)
	}
	buf := make([]*Job, n)
	k := 0
	for i := range q.slots {
		if j := q.buf[q.at(i)]; j != nil {
			buf[k] = j
			j.ticket = q.first + int64(k)
			k++
		}
	}
	q.buf, q.head, q.slots, q.holes = buf, 0, k, 0
}

// PushBack appends j at the tail.
func (q *jobQueue) PushBack(j *Job) {
	q.makeRoom()
	q.buf[q.at(q.slots)] = j
	j.ticket = q.first + int64(q.slots)
	q.slots++
}

// PushFront puts j at the head.
func (q *jobQueue) PushFront(j *Job) {
	q.makeRoom()
	q.head = (q.head - 1 + len(q.buf)) % len(q.buf)
	q.first--
	q.buf[q.head] = j
	j.ticket = q.first
	q.slots++
}

// PopFront removes and returns the head, or nil when empty.
func (q *jobQueue) PopFront() *Job {
	if q.Len() == 0 {
		return nil
	}
	j := q.buf[q.head] // never a hole: trim drops those at the head
	q.dropHead()
	q.trim()
	return j
}

// Remove takes j, which must be queued here, out of the queue.
func (q *jobQueue) Remove(j *Job) {
	offset := j.ticket - q.first
	if offset < 0 || offset >= int64(q.slots) || q.buf[q.at(int(offset))] != j {
		panic(fmt.Sprintf("sched: job %d is not in the queue where its ticket says", j.ID))
	}
	q.buf[q.at(int(offset))] = nil
	q.holes++
	q.trim()
}

// dropHead empties the head slot and moves the head past it.
func (q *jobQueue) dropHead() {
	q.buf[q.head] = nil
	q.head = (q.head + 1) % len(q.buf)
	q.first++
	q.slots--
}

// trim drops the holes at both ends, so the head and the tail always hold
// jobs (and an empty queue has no slots).
func (q *jobQueue) trim() {
	for q.slots > 0 && q.buf[q.head] == nil {
		q.dropHead()
		q.holes--
	}
	for q.slots > 0 && q.buf[q.at(q.slots-1)] == nil {
		q.slots--
		q.holes--
	}
}

// Drain removes and returns every queued job in order.
func (q *jobQueue) Drain() []*Job {
	out := make([]*Job, 0, q.Len())
	for j := q.PopFront(); j != nil; j = q.PopFront() {
		out = append(out, j)
	}
	return out
}

// IDs returns the IDs of the queued jobs, head first.
func (q *jobQueue) IDs() []uint64 {
	ids := make([]uint64, 0, q.Len())
	for i := range q.slots {
		if j := q.buf[q.at(i)]; j != nil {
			ids = append(ids, j.ID)
		}
	}
	return ids
}
