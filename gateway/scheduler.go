package gateway

import (
	"container/heap"
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// LateAfter is how long after its due time a run may start and still count as on time.
const LateAfter = time.Second

// Scheduler runs a job for every registered key once per interval, with jitter, on a fixed pool of
// workers. An idle key costs one heap entry, not a goroutine: one dispatcher goroutine sleeps until the
// earliest due time. A key is never run twice at once; a run that overruns its interval is scheduled
// again an interval after it ends (runs are not stacked up behind a slow device).
type Scheduler struct {
	interval time.Duration
	jitter   float64
	workers  int
	run      func(ctx context.Context, key string)

	mu      sync.Mutex
	heap    dueHeap
	index   map[string]*dueItem // keys scheduled or running
	wake    chan struct{}
	started bool

	late atomic.Int64
}

// Late returns how many runs started more than LateAfter after they were due (every worker busy, or the
// dispatcher held up): the measure of a scheduler keeping up.
func (s *Scheduler) Late() int64 { return s.late.Load() }

// NewScheduler makes a scheduler. jitter is the fraction of interval by which each run is moved at
// random (0.1 = ±10 %), so devices discovered together are not polled in lockstep. workers bounds how
// many runs happen at once.
func NewScheduler(interval time.Duration, jitter float64, workers int, run func(ctx context.Context, key string)) *Scheduler {
	if workers < 1 {
		workers = 1
	}
	return &Scheduler{interval: interval, jitter: jitter, workers: workers, run: run,
		index: map[string]*dueItem{}, wake: make(chan struct{}, 1)}
}

type dueItem struct {
	key     string
	due     time.Time
	pos     int // in the heap; -1 while running or removed
	removed bool
}

type dueHeap []*dueItem

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h dueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i]; h[i].pos = i; h[j].pos = j }
func (h *dueHeap) Push(x any)        { it := x.(*dueItem); it.pos = len(*h); *h = append(*h, it) }
func (h *dueHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	it.pos = -1
	return it
}

// Add schedules key; its first run is within one jittered interval from now, spread so that many keys
// added at once do not all run at the same instant. Adding a scheduled key does nothing.
func (s *Scheduler) Add(key string) {
	s.AddAt(key, time.Now().Add(time.Duration(rand.Float64()*float64(s.interval)*0.5)))
}

// AddAt schedules key to run first at t.
func (s *Scheduler) AddAt(key string, t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if it, ok := s.index[key]; ok {
		it.removed = false
		return
	}
	it := &dueItem{key: key, due: t}
	s.index[key] = it
	heap.Push(&s.heap, it)
	s.poke()
}

// Remove unschedules key. A run in progress finishes.
func (s *Scheduler) Remove(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.index[key]
	if !ok {
		return
	}
	if it.pos >= 0 {
		heap.Remove(&s.heap, it.pos)
		delete(s.index, key)
	} else {
		it.removed = true // running: dropped when it ends
	}
}

// Len is the number of keys scheduled or running.
func (s *Scheduler) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.index)
}

func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Scheduler) next() time.Duration {
	d := s.interval
	if s.jitter > 0 {
		d += time.Duration((rand.Float64()*2 - 1) * s.jitter * float64(s.interval))
	}
	return d
}

// Run dispatches until ctx is cancelled, then waits for runs in progress (which see ctx cancelled).
func (s *Scheduler) Run(ctx context.Context) {
	jobs := make(chan *dueItem)
	var wg sync.WaitGroup
	for range s.workers {
		wg.Go(func() {
			for it := range jobs {
				if time.Since(it.due) > LateAfter {
					s.late.Add(1)
				}
				s.run(ctx, it.key)
				s.mu.Lock()
				if it.removed {
					delete(s.index, it.key)
				} else {
					it.due = time.Now().Add(s.next())
					heap.Push(&s.heap, it)
				}
				s.mu.Unlock()
				s.poke()
			}
		})
	}
	defer wg.Wait()
	defer close(jobs)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		var it *dueItem
		wait := time.Hour
		if len(s.heap) > 0 {
			if d := time.Until(s.heap[0].due); d <= 0 {
				it = heap.Pop(&s.heap).(*dueItem)
			} else {
				wait = d
			}
		}
		s.mu.Unlock()
		if it != nil {
			select {
			case jobs <- it: // blocks while every worker is busy: the concurrency limit
				continue
			case <-ctx.Done():
				return
			}
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-s.wake:
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		case <-ctx.Done():
			return
		}
	}
}
