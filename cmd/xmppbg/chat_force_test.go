package main

import (
	"testing"
	"time"
)

// keysUI is a textUI with the raw terminal's Ctrl-C channel.
type keysUI struct {
	textUI
	intr chan struct{}
}

func (u *keysUI) interrupts() <-chan struct{} { return u.intr }

// A Ctrl-C typed on the raw terminal while the chat leaves, before the
// terminal is cooked again (so that Ctrl-C is a signal), forces the exit
// as SIGINT does; the Ctrl-C that started the leaving does not.
func TestForceExitOnInterruptKey(t *testing.T) {
	forced := func(t *testing.T, reason string, keys int) (forcedNow bool, second func() bool) {
		t.Helper()
		u := &keysUI{intr: make(chan struct{}, 4)}
		for range keys {
			u.intr <- struct{}{}
		}
		c := &chat{ui: u}
		ctx, stop := c.forceExit(reason)
		t.Cleanup(stop)
		if keys > 0 && reason != quitInterrupt || keys > 1 {
			// Already forced: wait for the goroutine to see it.
			select {
			case <-ctx.Done():
				return true, nil
			case <-time.After(10 * time.Second):
				return false, nil
			}
		}
		return ctx.Err() != nil, func() bool {
			u.intr <- struct{}{}
			select {
			case <-ctx.Done():
				return true
			case <-time.After(10 * time.Second):
				return false
			}
		}
	}
	t.Run("the first Ctrl-C is not a second", func(t *testing.T) {
		now, second := forced(t, quitInterrupt, 1)
		if now {
			t.Fatal("the Ctrl-C that ended the line forced the exit")
		}
		if !second() {
			t.Error("a second Ctrl-C did not force the exit")
		}
	})
	t.Run("two Ctrl-C before leaving", func(t *testing.T) {
		if now, _ := forced(t, quitInterrupt, 2); !now {
			t.Error("a Ctrl-C typed after the first, before leaving, did not force the exit")
		}
	})
	t.Run("Ctrl-C after Ctrl-D", func(t *testing.T) {
		now, second := forced(t, quitEOF, 0)
		if now {
			t.Fatal("forced with no Ctrl-C")
		}
		if !second() {
			t.Error("a Ctrl-C while leaving after Ctrl-D did not force the exit")
		}
	})
	t.Run("Ctrl-C already typed after /quit", func(t *testing.T) {
		if now, _ := forced(t, quitCommand, 1); !now {
			t.Error("a Ctrl-C typed after /quit did not force the exit")
		}
	})
}
