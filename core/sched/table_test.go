package sched

import (
	"slices"
	"testing"
)

func TestJobTable(t *testing.T) {
	tab := newJobTable()
	ids := []uint64{1, 2, jobPageSize - 1, jobPageSize, 5*jobPageSize + 3}
	for _, id := range ids {
		tab.put(&Job{ID: id})
	}
	for _, id := range ids {
		if j := tab.get(id); j == nil || j.ID != id {
			t.Fatalf("get(%d) = %v", id, j)
		}
	}
	if j := tab.get(3); j != nil {
		t.Fatalf("get(3) = job %d; 3 was never put", j.ID)
	}
	if len(tab.pages) != 3 {
		t.Fatalf("%d pages for IDs on 3 pages", len(tab.pages))
	}
	tab.remove(jobPageSize)
	tab.remove(jobPageSize) // twice: no effect
	tab.remove(12345)       // never put: no effect
	if len(tab.pages) != 2 {
		t.Fatalf("%d pages after the last job of a page went, want 2", len(tab.pages))
	}
	var seen []uint64
	tab.each(func(j *Job) {
		seen = append(seen, j.ID)
		tab.remove(j.ID) // as Close may, for a forgotten job
	})
	slices.Sort(seen)
	if want := []uint64{1, 2, jobPageSize - 1, 5*jobPageSize + 3}; !slices.Equal(seen, want) {
		t.Fatalf("each saw %v, want %v", seen, want)
	}
	if len(tab.pages) != 0 {
		t.Fatalf("%d pages left once every job was removed", len(tab.pages))
	}
}
