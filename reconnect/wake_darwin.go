package reconnect

import (
	"time"

	"golang.org/x/sys/unix"
)

// sleptClock returns the time the machine has spent asleep, plus a
// constant: macOS's CLOCK_MONOTONIC_RAW, which runs while the system
// sleeps, minus CLOCK_UPTIME_RAW, which does not (nor does Go's monotonic
// clock, mach_absolute_time). Both are raw: neither is slewed, so only the
// time asleep moves their difference. Where they cannot be read it
// returns 0.
func sleptClock() func() time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC_RAW, &ts) != nil || unix.ClockGettime(unix.CLOCK_UPTIME_RAW, &ts) != nil {
		return func() time.Duration { return 0 }
	}
	return func() time.Duration {
		var mono, uptime unix.Timespec
		_ = unix.ClockGettime(unix.CLOCK_MONOTONIC_RAW, &mono)
		_ = unix.ClockGettime(unix.CLOCK_UPTIME_RAW, &uptime)
		return time.Duration(mono.Nano() - uptime.Nano())
	}
}
