package metrics

import (
	"sync"
	"time"
)

// The rate history the status page charts: jobs finished per second,
// sampled every historyStep over the last historyLength. Sampled by the
// listener, so a page opened late still shows the minutes before it.
const (
	historyStep   = time.Second
	historyLength = 5 * time.Minute
	historySize   = int(historyLength / historyStep)
)

// history samples a count of finished jobs every historyStep.
type history struct {
	count func() uint64
	done  chan struct{}
	wg    sync.WaitGroup

	mu      sync.Mutex
	samples []uint64 // oldest first, at most historySize+1; guarded by mu
}

func startHistory(count func() uint64) *history {
	h := &history{count: count, done: make(chan struct{})}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		h.sample() // here, not under whatever lock the caller holds
		t := time.NewTicker(historyStep)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				h.sample()
			case <-h.done:
				return
			}
		}
	}()
	return h
}

func (h *history) sample() {
	n := h.count()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.samples = append(h.samples, n)
	if len(h.samples) > historySize+1 {
		h.samples = h.samples[1:]
	}
}

// rates returns the jobs finished per second in each step of the history,
// oldest first.
func (h *history) rates() []float64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]float64, 0, len(h.samples))
	for i := 1; i < len(h.samples); i++ {
		out = append(out, float64(h.samples[i]-h.samples[i-1])/historyStep.Seconds())
	}
	return out
}

func (h *history) stop() {
	close(h.done)
	h.wg.Wait()
}
