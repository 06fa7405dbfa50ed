package suspend

import (
	"time"

	"golang.org/x/sys/unix"
)

// SystemClock returns the system's clocks: on macOS CLOCK_UPTIME_RAW,
// which stops while the machine sleeps (as Go's own monotonic clock,
// mach_absolute_time, does), and CLOCK_MONOTONIC_RAW, which does not: they
// differ by the time asleep, as Linux's CLOCK_MONOTONIC and CLOCK_BOOTTIME
// do. Both are raw, neither slewed nor stepped, unlike the wall clock.
func SystemClock() Clock { return darwinClock{} }

type darwinClock struct{}

func (darwinClock) Monotonic() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_UPTIME_RAW, &ts); err != nil {
		return time.Duration(nanotime())
	}
	return time.Duration(ts.Nano())
}

func (darwinClock) Boottime() (time.Duration, bool) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC_RAW, &ts); err != nil {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}
