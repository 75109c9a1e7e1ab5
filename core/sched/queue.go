package sched

// jobQueue is a FIFO ring buffer of jobs that can also put a job back at
// its head (a re-queued job goes first: it has waited longest).
type jobQueue struct {
	buf        []*Job
	head, size int
}

func (q *jobQueue) Len() int { return q.size }

func (q *jobQueue) grow() {
	n := len(q.buf) * 2
	if n == 0 {
		n = 64
	}
	buf := make([]*Job, n)
	for i := 0; i < q.size; i++ {
		buf[i] = q.buf[(q.head+i)%len(q.buf)]
	}
	q.buf, q.head = buf, 0
}

// PushBack appends j at the tail.
func (q *jobQueue) PushBack(j *Job) {
	if q.size == len(q.buf) {
		q.grow()
	}
	q.buf[(q.head+q.size)%len(q.buf)] = j
	q.size++
}

// PushFront puts j at the head.
func (q *jobQueue) PushFront(j *Job) {
	if q.size == len(q.buf) {
		q.grow()
	}
	q.head = (q.head - 1 + len(q.buf)) % len(q.buf)
	q.buf[q.head] = j
	q.size++
}

// PopFront removes and returns the head, or nil when empty.
func (q *jobQueue) PopFront() *Job {
	if q.size == 0 {
		return nil
	}
	j := q.buf[q.head]
	q.buf[q.head] = nil
	q.head = (q.head + 1) % len(q.buf)
	q.size--
	if q.size == 0 {
		q.head = 0
	}
	return j
}

// Drain removes and returns every queued job in order.
func (q *jobQueue) Drain() []*Job {
	out := make([]*Job, 0, q.size)
	for j := q.PopFront(); j != nil; j = q.PopFront() {
		out = append(out, j)
	}
	return out
}

// IDs returns the IDs of the queued jobs, head first.
func (q *jobQueue) IDs() []uint64 {
	ids := make([]uint64, q.size)
	for i := range ids {
		ids[i] = q.buf[(q.head+i)%len(q.buf)].ID
	}
	return ids
}
