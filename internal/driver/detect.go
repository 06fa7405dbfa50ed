package driver

import (
	"context"
	"time"

	"github.com/xmppbg/xmppbg/reconnect"
	"github.com/xmppbg/xmppbg/suspend"
)

// Woke reports a suspension that the detector noticed by itself (nobody
// said /suspend or /resume) and what the client did about it: with
// reconnect.WakeProbe the connection is being probed, and the next Online
// state carries the time since the wake-up (SinceResume).
type Woke struct {
	Stamp
	// Cause is what was noticed: SIGCONT, a machine sleep, a late timer.
	Cause suspend.Cause
	// Slept and Late are the detector's measures (suspend.Woke).
	Slept, Late time.Duration
	// Action is what the client did.
	Action reconnect.WakeAction
}

// String describes it on one line.
func (w Woke) String() string {
	s := "noticed a suspension ("
	switch w.Cause {
	case suspend.Continued:
		s += "SIGCONT: the process was stopped and continued"
	case suspend.Slept:
		s += "the machine slept " + w.Slept.Round(time.Millisecond).String()
	case suspend.LateTimer:
		s += "a timer fired " + w.Late.Round(time.Millisecond).String() + " late"
	case suspend.NetworkChanged:
		s += "the network changed"
	default:
		s += w.Cause.String()
	}
	s += "): "
	switch w.Action {
	case reconnect.WakeProbe:
		return s + "probing the connection"
	case reconnect.WakeRetry:
		return s + "logging in again now"
	}
	return s + "nothing to do"
}

// runDetector runs a suspension detector until ctx ends: each suspension it
// notices is handed to the client (reconnect.Client.Wake), and reported
// (Woke) once the client has said what it did.
func (d *Driver) runDetector(ctx context.Context, opts suspend.DetectorOptions) {
	_ = suspend.NewDetector(opts).Run(ctx, func(w suspend.Woke) {
		d.mu.Lock()
		d.wakes = append(d.wakes, w)
		// The next Online says how long the repair took from here.
		d.resumeAt = time.Now()
		d.mu.Unlock()
		if err := d.client.Wake(ctx, w.Cause.String()); err != nil {
			// Not taken: no Woken will come for it.
			d.mu.Lock()
			d.wakes = d.wakes[:len(d.wakes)-1]
			d.mu.Unlock()
		}
	})
}

// woken pairs the client's Woken with the detector's report it answers.
func (d *Driver) woken(e reconnect.Woken) {
	d.mu.Lock()
	if len(d.wakes) == 0 {
		d.mu.Unlock()
		return // a Wake that was not the detector's
	}
	w := d.wakes[0]
	d.wakes = d.wakes[1:]
	d.mu.Unlock()
	d.emit(Woke{Stamp: now(), Cause: w.Cause, Slept: w.Slept, Late: w.Late, Action: e.Action})
}
