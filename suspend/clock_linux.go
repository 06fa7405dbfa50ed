package suspend

import (
	"time"

	"golang.org/x/sys/unix"
)

// SystemClock returns the system's clocks: on Linux CLOCK_MONOTONIC and
// CLOCK_BOOTTIME, which differ exactly by the time the machine has spent
// suspended.
func SystemClock() Clock { return linuxClock{} }

type linuxClock struct{}

func (linuxClock) Monotonic() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return time.Duration(nanotime())
	}
	return time.Duration(ts.Nano())
}

func (linuxClock) Boottime() (time.Duration, bool) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0, false // a kernel older than 2.6.39
	}
	return time.Duration(ts.Nano()), true
}
