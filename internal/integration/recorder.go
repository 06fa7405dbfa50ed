package integration

import (
	"slices"
	"sync"
	"time"
)

// Recorder records a client's events with the time each was delivered, for
// tests that wait for an event and time it against a real server (the
// benchmarks, the soak): E is reconnect.Event or session.Event. The zero
// value is ready; a Recorder is safe for concurrent use, and On may be a
// client's OnEvent.
type Recorder[E any] struct {
	mu   sync.Mutex
	ev   []E
	at   []time.Time
	once sync.Once
	wake chan struct{} // a token once an event has arrived
}

// On records ev as delivered now.
func (r *Recorder[E]) On(ev E) {
	now := time.Now()
	r.mu.Lock()
	r.ev = append(r.ev, ev)
	r.at = append(r.at, now)
	r.mu.Unlock()
	select {
	case r.ch() <- struct{}{}:
	default:
	}
}

// Arrived receives once an event has arrived since the last receive: a
// test polling something else the events change waits on it.
func (r *Recorder[E]) Arrived() <-chan struct{} { return r.ch() }

func (r *Recorder[E]) ch() chan struct{} {
	r.once.Do(func() { r.wake = make(chan struct{}, 1) })
	return r.wake
}

// First waits up to timeout for an event delivered at or after t0 for
// which f is true, and returns the first such event and when it was
// delivered; ok is false when none came in time.
func (r *Recorder[E]) First(t0 time.Time, timeout time.Duration, f func(E) bool) (at time.Time, ev E, ok bool) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		for i, e := range r.ev {
			if !r.at[i].Before(t0) && f(e) {
				at := r.at[i]
				r.mu.Unlock()
				return at, e, true
			}
		}
		r.mu.Unlock()
		select {
		case <-r.ch():
		case <-deadline.C:
			var zero E
			return time.Time{}, zero, false
		}
	}
}

// Trim forgets the events delivered before t0, so that long runs do not
// rescan (or keep) them.
func (r *Recorder[E]) Trim(t0 time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := 0
	for i < len(r.at) && r.at[i].Before(t0) {
		i++
	}
	r.ev, r.at = slices.Clone(r.ev[i:]), slices.Clone(r.at[i:])
}
