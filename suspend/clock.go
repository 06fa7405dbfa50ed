package suspend

import "time"

// start anchors the monotonic readings of the portable clock.
var start = time.Now()

// nanotime returns the time since start on Go's monotonic clock, which on
// Linux is CLOCK_MONOTONIC.
func nanotime() int64 { return int64(time.Since(start)) }
