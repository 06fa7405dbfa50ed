package bench_test

import (
	"sync"
	"time"

	"github.com/xmppbg/xmppbg/reconnect"
)

// events records a client's events with the time they were delivered.
type events struct {
	mu   sync.Mutex
	ev   []reconnect.Event
	at   []time.Time
	wake chan struct{}
}

func newEvents() *events { return &events{wake: make(chan struct{}, 1)} }

func (e *events) on(ev reconnect.Event) {
	now := time.Now()
	e.mu.Lock()
	e.ev = append(e.ev, ev)
	e.at = append(e.at, now)
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// first returns when the first event after t0 matching f was delivered, and
// the event; it waits up to timeout for one.
func (e *events) first(t0 time.Time, timeout time.Duration, f func(reconnect.Event) bool) (time.Time, reconnect.Event, bool) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		e.mu.Lock()
		for i, ev := range e.ev {
			if !e.at[i].Before(t0) && f(ev) {
				at := e.at[i]
				e.mu.Unlock()
				return at, ev, true
			}
		}
		e.mu.Unlock()
		select {
		case <-e.wake:
		case <-deadline.C:
			return time.Time{}, nil, false
		}
	}
}

// trim forgets the events before t0 (long runs would otherwise rescan them).
func (e *events) trim(t0 time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	i := 0
	for i < len(e.at) && e.at[i].Before(t0) {
		i++
	}
	e.ev, e.at = e.ev[i:], e.at[i:]
}

func isOnline(ev reconnect.Event) bool {
	s, ok := ev.(reconnect.StatusChanged)
	return ok && s.Status == reconnect.Online
}

func isDead(ev reconnect.Event) bool {
	_, ok := ev.(reconnect.Dead)
	return ok
}

func isConnected(ev reconnect.Event) bool {
	_, ok := ev.(reconnect.Connected)
	return ok
}
