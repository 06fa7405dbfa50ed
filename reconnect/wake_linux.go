package reconnect

import (
	"time"

	"golang.org/x/sys/unix"
)

// sleptClock returns the time the machine has spent suspended, plus a
// constant: CLOCK_BOOTTIME, which runs during a suspend, minus
// CLOCK_MONOTONIC (Go's timers), which does not. Both are slewed alike by
// NTP and never stepped. Without CLOCK_BOOTTIME (a kernel older than
// 2.6.39) it returns 0.
func sleptClock() func() time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts) != nil {
		return func() time.Duration { return 0 }
	}
	return func() time.Duration {
		var boot, mono unix.Timespec
		// Cannot fail now: both clocks exist and the pointers are valid.
		_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &boot)
		_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &mono)
		return time.Duration(boot.Nano() - mono.Nano())
	}
}
