//go:build !linux && !darwin

package reconnect

import "time"

// sleptClock returns the time the machine has spent asleep, plus a
// constant, where it can be read. On Windows Go's monotonic clock (the
// interrupt time) already counts sleep: 0 is right. Elsewhere there is no
// portable pair of clocks to compare (the wall clock is stepped by users
// and NTP): 0, and an attempt that began before a sleep is replaced only
// once it has run for the probe timeout since the wake.
func sleptClock() func() time.Duration {
	return func() time.Duration { return 0 }
}
