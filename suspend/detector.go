package suspend

import (
	"context"
	"os"
	"time"
)

// Defaults for the zero values of DetectorOptions.
const (
	// DefaultCheckInterval is how often a Detector's timer fires while the
	// process runs. Each firing reads two clocks and sends nothing: it wakes
	// the CPU for microseconds, never the radio. While the process is
	// frozen or the machine sleeps, it does not fire at all, so it costs
	// nothing then. 30 s bounds two things: a freeze longer than
	// DefaultCheckInterval + DefaultLateAfter is always noticed the moment
	// the process runs again (the timer due meanwhile fires at once, late),
	// and a machine sleep is noticed at most 30 s after the wake (Go's
	// timers follow CLOCK_MONOTONIC, which stops during the sleep). Shorter
	// freezes rarely kill a connection, and the ack timeout catches one
	// that did as soon as something is sent.
	DefaultCheckInterval = 30 * time.Second
	// DefaultLateAfter is how much later than scheduled the timer must fire
	// to count as a freeze. Go's timers are late by microseconds, by
	// milliseconds under heavy load; 5 s of lateness means the process did
	// not run. A false alarm would cost one probe (a few bytes and a radio
	// wake), so the threshold stays well clear of load.
	DefaultLateAfter = 5 * time.Second
	// DefaultSleptAfter is how far CLOCK_BOOTTIME must move ahead of
	// CLOCK_MONOTONIC between two checks to count as a machine sleep. Both
	// clocks are slewed alike by NTP and neither is ever stepped, so their
	// difference changes only by the time spent suspended: one second is
	// far above any measuring noise. (On macOS CLOCK_MONOTONIC_RAW and
	// CLOCK_UPTIME_RAW play their parts; elsewhere the wall clock stands
	// in, which users and NTP may step: see Clock.)
	DefaultSleptAfter = 1 * time.Second
	// DefaultCoalesce is how long after a reported wake-up another sign of
	// the same suspension (a SIGCONT that arrives just after the late timer
	// it caused, or the reverse) is folded into it instead of reported.
	DefaultCoalesce = 1 * time.Second
	// DefaultSettle is how long after the first sign of a network change
	// the detector reports it: a switch between networks comes as a burst
	// of address and route messages over a second or so, and one report
	// (one probe) is enough.
	DefaultSettle = 1 * time.Second
)

// Cause says what a Detector noticed.
type Cause int

// Causes of a wake-up.
const (
	// Continued: the process received SIGCONT: it was stopped (SIGSTOP,
	// SIGTSTP, a debugger) and continued. Unix only.
	Continued Cause = iota + 1
	// Slept: the machine was suspended: CLOCK_BOOTTIME moved ahead of
	// CLOCK_MONOTONIC (on macOS CLOCK_MONOTONIC_RAW ahead of CLOCK_UPTIME_RAW;
	// the wall clock elsewhere).
	Slept
	// LateTimer: the detector's timer fired far later than scheduled: the
	// process did not run (a cgroup freezer, an OS that suspends apps
	// without a signal, a stopped virtual machine).
	LateTimer
	// NetworkChanged: an address was removed, or the default route changed
	// (Linux, route netlink): the path of a connection may be gone.
	NetworkChanged
)

var causeNames = [...]string{"", "sigcont", "slept", "late-timer", "network"}

// String returns "sigcont", "slept", "late-timer" or "network".
func (c Cause) String() string {
	if c > 0 && int(c) < len(causeNames) {
		return causeNames[c]
	}
	return "unknown"
}

// Woke reports that the process probably was suspended and runs again: every
// connection it holds is suspect. It means what Resume means for an App: probe
// the connection (with a short timeout) and repair it if it is dead
// (reconnect.Client.Wake does both).
type Woke struct {
	// Cause is what was noticed first.
	Cause Cause
	// Slept is how long the machine slept since the previous check, as
	// measured by the clocks; zero when it did not.
	Slept time.Duration
	// Late is how much later than scheduled the detector's timer fired: a
	// lower bound on how long the process did not run. Zero when the timer
	// was not due during the suspension (a short stop reported by SIGCONT).
	Late time.Duration
}

// Clock is what a Detector reads time from. Tests inject their own; the
// default is SystemClock.
type Clock interface {
	// Monotonic returns the time elapsed, since some fixed moment, on a clock
	// that runs while the process is stopped but not while the machine
	// sleeps: Linux's CLOCK_MONOTONIC, the clock Go's timers follow.
	Monotonic() time.Duration
	// Boottime returns the time elapsed, since the same kind of moment, on a
	// clock that also runs while the machine sleeps (CLOCK_BOOTTIME). Only
	// its difference with Monotonic matters. ok is false when there is no
	// such clock; then sleeps are not detected.
	Boottime() (d time.Duration, ok bool)
}

// DetectorOptions configures a Detector. The zero value of every field is a
// documented default.
type DetectorOptions struct {
	// Interval is the period of the detector's timer. Default
	// DefaultCheckInterval.
	Interval time.Duration
	// LateAfter is the lateness of the timer that counts as a freeze.
	// Default DefaultLateAfter.
	LateAfter time.Duration
	// SleptAfter is the jump of CLOCK_BOOTTIME over CLOCK_MONOTONIC that
	// counts as a machine sleep. Default DefaultSleptAfter.
	SleptAfter time.Duration
	// Coalesce is the window after a report in which further signs of the
	// same suspension are folded into it. Default DefaultCoalesce.
	Coalesce time.Duration
	// NoSignal turns off watching for SIGCONT (always off where there is no
	// SIGCONT, as on Windows).
	NoSignal bool
	// NoNetwork turns off watching for network changes (always off outside
	// Linux, or where route netlink cannot be opened).
	NoNetwork bool
	// Settle is the wait between the first sign of a network change and
	// its report. Default DefaultSettle.
	Settle time.Duration
	// Clock is the clock. Default SystemClock().
	Clock Clock

	// signals, when set, replaces SIGCONT, and network the kernel's
	// network changes (tests: export_test.go).
	signals <-chan os.Signal
	network <-chan struct{}
}

// Detector notices that the process was suspended, without being told: it
// watches for SIGCONT, compares CLOCK_BOOTTIME with CLOCK_MONOTONIC, and
// checks that its own timer fires on time. On Linux it also watches the
// kernel's route netlink for a network change that may have cut a
// connection's path. It sends nothing on the network.
// Create it with NewDetector and start it with Run; one Detector may be run
// by one goroutine at a time.
type Detector struct {
	opts DetectorOptions
}

// NewDetector returns a detector configured by opts. It does nothing until
// Run.
func NewDetector(opts DetectorOptions) *Detector {
	if opts.Interval <= 0 {
		opts.Interval = DefaultCheckInterval
	}
	if opts.LateAfter <= 0 {
		opts.LateAfter = DefaultLateAfter
	}
	if opts.SleptAfter <= 0 {
		opts.SleptAfter = DefaultSleptAfter
	}
	if opts.Coalesce <= 0 {
		opts.Coalesce = DefaultCoalesce
	}
	if opts.Settle <= 0 {
		opts.Settle = DefaultSettle
	}
	if opts.Clock == nil {
		opts.Clock = SystemClock()
	}
	return &Detector{opts: opts}
}

// Run watches until ctx ends, and returns ctx.Err(). It calls onWake on its
// own goroutine (the caller's), one call at a time, for every suspension
// noticed; onWake should return soon (a slow one delays the next check, and
// is itself taken for a freeze only if it runs for longer than Interval +
// LateAfter).
func (d *Detector) Run(ctx context.Context, onWake func(Woke)) error {
	o := d.opts
	sig := o.signals
	if sig == nil && !o.NoSignal {
		ch, stop := notifyContinued()
		if ch != nil {
			defer stop()
			sig = ch
		}
	}
	netC := o.network
	if netC == nil && !o.NoNetwork {
		// Without netlink (another OS, a sandbox), the other signs remain.
		if ch, stop, err := watchNetwork(); err == nil {
			defer stop()
			netC = ch
		}
	}
	var settle *time.Timer
	var settleC <-chan time.Time
	defer func() {
		if settle != nil {
			settle.Stop()
		}
	}()

	clk := o.Clock
	offset, hasBoot := sleepOffset(clk)
	due := clk.Monotonic() + o.Interval
	t := time.NewTimer(o.Interval)
	defer t.Stop()
	var lastReport time.Duration
	reported := false

	// check measures the clocks now, when trigger (Continued,
	// NetworkChanged, or zero for the timer) woke the detector; it returns
	// the wake-up to report (zero Cause for none) and starts a new period.
	check := func(trigger Cause) Woke {
		now := clk.Monotonic()
		var w Woke
		if late := now - due; late > o.LateAfter {
			w.Late = late
		}
		if hasBoot {
			if off, ok := sleepOffset(clk); ok {
				if jump := off - offset; jump > o.SleptAfter {
					w.Slept = jump
				}
				offset = off
			}
		}
		switch {
		case trigger == Continued:
			w.Cause = Continued
		case w.Slept > 0:
			w.Cause = Slept
		case w.Late > 0:
			w.Cause = LateTimer
		default:
			w.Cause = trigger
		}
		if w.Cause != 0 {
			if reported && now-lastReport < o.Coalesce {
				w.Cause = 0 // the same suspension, already reported
			}
			lastReport, reported = now, true
		}
		// A new period from now: a late timer is not late twice. (Since
		// Go 1.23 Reset leaves no stale tick in t.C.)
		t.Reset(o.Interval)
		due = now + o.Interval
		return w
	}

	for {
		var w Woke
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			w = check(0)
		case <-sig:
			w = check(Continued)
		case <-netC:
			// Reported once the burst has settled; later messages of
			// the burst change nothing.
			if settleC == nil {
				if settle == nil {
					settle = time.NewTimer(o.Settle)
				} else {
					settle.Reset(o.Settle)
				}
				settleC = settle.C
			}
			continue
		case <-settleC:
			settleC = nil
			w = check(NetworkChanged)
		}
		if w.Cause != 0 {
			onWake(w)
		}
	}
}

// sleepOffset returns CLOCK_BOOTTIME minus CLOCK_MONOTONIC: the time the
// machine has spent asleep (plus a constant).
func sleepOffset(c Clock) (time.Duration, bool) {
	b, ok := c.Boottime()
	if !ok {
		return 0, false
	}
	return b - c.Monotonic(), true
}
