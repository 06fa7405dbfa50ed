//go:build !linux && !darwin

package suspend

import "time"

// SystemClock returns the system's clocks. Outside Linux and macOS there is
// no clock that counts sleep to read portably: the wall clock stands in for
// it. Where Go's monotonic clock stops while the machine sleeps and the
// wall clock does not, their difference grows by the time asleep;
// where it keeps running, the detector's timer fires late after the wake
// instead (LateTimer). A user or NTP stepping the wall clock by more than
// DetectorOptions.SleptAfter looks like a sleep too, which costs one probe.
func SystemClock() Clock { return portableClock{} }

type portableClock struct{}

func (portableClock) Monotonic() time.Duration { return time.Duration(nanotime()) }

func (portableClock) Boottime() (time.Duration, bool) {
	// Round(0) strips the monotonic reading: a wall-clock difference.
	return time.Now().Round(0).Sub(start.Round(0)), true
}
