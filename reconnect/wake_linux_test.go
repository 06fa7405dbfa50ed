package reconnect_test

import (
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/reconnect"
)

// While the machine is awake, the clock of the time slept stands still
// (CLOCK_BOOTTIME and CLOCK_MONOTONIC run together): it is their difference,
// not one of them. (That it moves by the time asleep cannot be shown without
// suspending the machine.)
func TestSleptClockStillWhileAwake(t *testing.T) {
	slept := reconnect.SleptClock()
	before := slept()
	time.Sleep(100 * time.Millisecond) // real time passing, on both clocks
	if d := (slept() - before).Abs(); d > 50*time.Millisecond {
		t.Fatalf("the slept clock moved %v in 100 ms awake", d)
	}
}
