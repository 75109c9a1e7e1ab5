package sched

// jobTable finds the scheduler's jobs by ID. IDs are handed out in order
// and jobs are mostly forgotten in about that order, so it is an array of
// pages indexed by ID rather than a hash map: a queued job costs its table
// 8 bytes instead of a map entry's ~25, and a million jobs queue up with
// no rehashing. A page is freed once its last job goes, so a client that
// keeps a few old jobs pins a few pages, not every ID since.
type jobTable struct {
	pages map[uint64]*jobPage // by ID / jobPageSize
}

// jobPageSize is how many IDs a page covers: 8 KiB of pointers.
const jobPageSize = 1024

type jobPage struct {
	slots [jobPageSize]*Job
	live  int // non-nil slots
}

func newJobTable() jobTable { return jobTable{pages: make(map[uint64]*jobPage)} }

// get returns job id, or nil.
func (t *jobTable) get(id uint64) *Job {
	if p := t.pages[id/jobPageSize]; p != nil {
		return p.slots[id%jobPageSize]
	}
	return nil
}

// put adds j under j.ID, which must be free.
func (t *jobTable) put(j *Job) {
	p := t.pages[j.ID/jobPageSize]
	if p == nil {
		p = &jobPage{}
		t.pages[j.ID/jobPageSize] = p
	}
	p.slots[j.ID%jobPageSize] = j
	p.live++
}

// remove drops job id, if the table has it.
func (t *jobTable) remove(id uint64) {
	p := t.pages[id/jobPageSize]
	if p == nil || p.slots[id%jobPageSize] == nil {
		return
	}
	p.slots[id%jobPageSize] = nil
	if p.live--; p.live == 0 {
		delete(t.pages, id/jobPageSize)
	}
}

// each calls f for every job, in no particular order; f may remove the
// job it is given.
func (t *jobTable) each(f func(*Job)) {
	for _, p := range t.pages {
		for i := range p.slots { // by index: ranging over the array would copy it
			if j := p.slots[i]; j != nil {
				f(j)
			}
		}
	}
}
