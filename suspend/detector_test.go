package suspend_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/xmppbg/xmppbg/suspend"
)

// fakeClock is a Clock over synctest's fake time in which a test can make the
// process freeze (Monotonic and Boottime jump, timers do not move) or the
// machine sleep (only Boottime jumps, as CLOCK_MONOTONIC stops).
type fakeClock struct {
	base time.Time

	mu       sync.Mutex
	frozen   time.Duration
	slept    time.Duration
	noBoot   bool
	bootRead int
}

func newFakeClock() *fakeClock { return &fakeClock{base: time.Now()} }

func (c *fakeClock) Monotonic() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Since(c.base) + c.frozen
}

func (c *fakeClock) Boottime() (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bootRead++
	if c.noBoot {
		return 0, false
	}
	return time.Since(c.base) + c.frozen + c.slept, true
}

// freeze makes the process lose d: the clocks jump, the timers do not.
func (c *fakeClock) freeze(d time.Duration) {
	c.mu.Lock()
	c.frozen += d
	c.mu.Unlock()
}

// sleep makes the machine sleep d: only CLOCK_BOOTTIME moves.
func (c *fakeClock) sleep(d time.Duration) {
	c.mu.Lock()
	c.slept += d
	c.mu.Unlock()
}

func (c *fakeClock) reads() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bootRead
}

// wakes records what a detector reported, with the fake time since start.
type wakes struct {
	start time.Time
	mu    sync.Mutex
	got   []suspend.Woke
	at    []time.Duration
}

func (w *wakes) add(x suspend.Woke) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.got = append(w.got, x)
	w.at = append(w.at, time.Since(w.start))
}

func (w *wakes) take() []suspend.Woke {
	w.mu.Lock()
	defer w.mu.Unlock()
	g := w.got
	w.got, w.at = nil, nil
	return g
}

// runDetector starts a detector in the bubble; it stops with the test.
func runDetector(t *testing.T, opts suspend.DetectorOptions) *wakes {
	t.Helper()
	w := &wakes{start: time.Now()}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	d := suspend.NewDetector(opts)
	go func() { done <- d.Run(ctx, w.add) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != context.Canceled {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	})
	return w
}

func wantWakes(t *testing.T, w *wakes, want ...suspend.Woke) {
	t.Helper()
	synctest.Wait()
	got := w.take()
	if len(got) != len(want) {
		t.Fatalf("wake-ups %+v, want %+v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("wake-up %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

// A healthy process that runs for an hour hears nothing, and the detector
// woke exactly once per interval to read the clocks.
func TestDetectorQuietWhenNothingHappens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := newFakeClock()
		w := runDetector(t, suspend.DetectorOptions{Clock: clk, NoSignal: true, NoNetwork: true})
		time.Sleep(time.Hour)
		wantWakes(t, w)
		// One reading at the start, one per 30 s check.
		if got, want := clk.reads(), 1+int(time.Hour/suspend.DefaultCheckInterval); got != want {
			t.Fatalf("clock read %d times in an hour, want %d (one per DefaultCheckInterval)", got, want)
		}
	})
}

func TestDetectorLateTimer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := newFakeClock()
		w := runDetector(t, suspend.DetectorOptions{Clock: clk, NoSignal: true, NoNetwork: true})

		// Frozen for 2 minutes just before the first check: the timer
		// fires 2 minutes late.
		time.Sleep(29 * time.Second)
		clk.freeze(2 * time.Minute)
		time.Sleep(1 * time.Second)
		wantWakes(t, w, suspend.Woke{Cause: suspend.LateTimer, Late: 2 * time.Minute})

		// The next period starts at the late firing: on time again.
		time.Sleep(30 * time.Second)
		wantWakes(t, w)

		// Late by less than LateAfter: load, not a freeze.
		time.Sleep(29 * time.Second)
		clk.freeze(suspend.DefaultLateAfter)
		time.Sleep(1 * time.Second)
		wantWakes(t, w)
	})
}

func TestDetectorThresholdsAreOptions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := newFakeClock()
		w := runDetector(t, suspend.DetectorOptions{
			Clock: clk, NoSignal: true, NoNetwork: true,
			Interval: 10 * time.Second, LateAfter: time.Second, SleptAfter: 100 * time.Millisecond,
		})
		time.Sleep(9 * time.Second)
		clk.freeze(2 * time.Second)
		time.Sleep(1 * time.Second)
		wantWakes(t, w, suspend.Woke{Cause: suspend.LateTimer, Late: 2 * time.Second})

		clk.sleep(200 * time.Millisecond)
		time.Sleep(10 * time.Second)
		wantWakes(t, w, suspend.Woke{Cause: suspend.Slept, Slept: 200 * time.Millisecond})
	})
}

func TestDetectorMachineSlept(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := newFakeClock()
		w := runDetector(t, suspend.DetectorOptions{Clock: clk, NoSignal: true, NoNetwork: true})

		// CLOCK_MONOTONIC (and so every timer) stops while the machine
		// sleeps: the timer fires on time by it, but CLOCK_BOOTTIME has
		// moved 8 hours ahead.
		time.Sleep(10 * time.Second)
		clk.sleep(8 * time.Hour)
		time.Sleep(20 * time.Second)
		wantWakes(t, w, suspend.Woke{Cause: suspend.Slept, Slept: 8 * time.Hour})

		// Counted once.
		time.Sleep(30 * time.Second)
		wantWakes(t, w)

		// A jump below SleptAfter is noise.
		clk.sleep(suspend.DefaultSleptAfter)
		time.Sleep(30 * time.Second)
		wantWakes(t, w)

		// The process frozen and the machine asleep: the sleep is named.
		time.Sleep(20 * time.Second)
		clk.freeze(time.Minute)
		clk.sleep(time.Hour)
		time.Sleep(10 * time.Second)
		wantWakes(t, w, suspend.Woke{Cause: suspend.Slept, Slept: time.Hour, Late: time.Minute})
	})
}

func TestDetectorWithoutBoottime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := newFakeClock()
		clk.noBoot = true
		w := runDetector(t, suspend.DetectorOptions{Clock: clk, NoSignal: true, NoNetwork: true})
		clk.sleep(time.Hour)
		time.Sleep(time.Minute)
		wantWakes(t, w)
		clk.freeze(time.Hour)
		time.Sleep(30 * time.Second)
		wantWakes(t, w, suspend.Woke{Cause: suspend.LateTimer, Late: time.Hour})
	})
}

func TestCauseString(t *testing.T) {
	for c, want := range map[suspend.Cause]string{
		suspend.Continued: "sigcont", suspend.Slept: "slept", suspend.LateTimer: "late-timer", suspend.NetworkChanged: "network", 0: "unknown", 99: "unknown",
	} {
		if got := c.String(); got != want {
			t.Errorf("Cause(%d).String() = %q, want %q", int(c), got, want)
		}
	}
}

// A network change comes as a burst of messages: one report, DefaultSettle
// after the first; a sleep measured meanwhile is named instead.
func TestDetectorNetworkChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := newFakeClock()
		netC := make(chan struct{})
		w := runDetector(t, suspend.WithNetwork(suspend.DetectorOptions{Clock: clk, NoSignal: true}, netC))

		time.Sleep(5 * time.Second)
		start := time.Now()
		for range 5 {
			netC <- struct{}{}
			time.Sleep(100 * time.Millisecond)
		}
		synctest.Wait()
		if got := w.take(); len(got) != 0 {
			t.Fatalf("reported %+v before the burst settled", got)
		}
		time.Sleep(suspend.DefaultSettle - time.Since(start))
		wantWakes(t, w, suspend.Woke{Cause: suspend.NetworkChanged})
		// The burst is over: nothing more.
		time.Sleep(time.Minute)
		wantWakes(t, w)

		// The machine slept and woke on another network: the sleep is
		// what is reported.
		clk.sleep(time.Hour)
		netC <- struct{}{}
		time.Sleep(suspend.DefaultSettle)
		wantWakes(t, w, suspend.Woke{Cause: suspend.Slept, Slept: time.Hour})
	})
}
