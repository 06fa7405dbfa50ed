package reconnect

import "time"

// SetSlept replaces the clock of the time the machine has slept (plus a
// constant): tests move it to simulate a machine sleep, which the bubble's
// clock, like CLOCK_MONOTONIC, does not count.
func (c *Client) SetSlept(slept func() time.Duration) { c.slept = slept }

// SleptClock exposes the platform's clock of the time slept.
var SleptClock = sleptClock
