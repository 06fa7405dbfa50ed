package reconnect

import (
	"context"
	"log/slog"
	"time"
)

// How old a login attempt is, asleep included.
//
// Go's monotonic clock, which its timers and time.Since follow, stops while
// the machine sleeps on Linux (CLOCK_MONOTONIC) and macOS: a login attempt
// that was under way when the lid closed looks as young after the wake as
// when it began, and one stuck in a socket that died meanwhile would wait
// out its whole login timeout. So an attempt's age is its time.Since plus
// how much longer the machine has slept since it began: Client.slept, the
// time the machine has spent asleep (plus a constant), read from two clocks
// that differ by exactly that (wake_linux.go, wake_darwin.go). Where there
// is nothing to read it returns 0: on Windows Go's monotonic clock (the
// interrupt time) counts sleep already. Tests replace slept, and their
// timers and time.Since follow the synctest bubble's clock as before.
//
// The two clocks are read one after the other, so their difference wobbles
// by the time between the reads (nanoseconds; more if the thread is
// descheduled in between). Less than sleptNoise is that, not a sleep: a
// machine does not suspend and resume in under a second. This also keeps
// the age exact in a synctest bubble, where the real clocks run on.

// sleptNoise: see above.
const sleptNoise = time.Second

// sinceAttempt returns how long ago the attempt under way (or the last one)
// began, the time the machine slept since included.
func (l *loop) sinceAttempt() time.Duration {
	age := time.Since(l.attemptAt)
	if slept := l.c.slept() - l.attemptSlept; slept >= sleptNoise {
		age += slept
	}
	return age
}

// wake handles Client.Wake: after a possible suspension, trust nothing.
func (l *loop) wake(ctx context.Context, reason string) {
	c := l.c
	action := WakeIgnored
	switch {
	case l.paused || l.held:
	case l.sess != nil:
		action = WakeProbe
	case l.attemptCh != nil:
		// An attempt older than a probe may be stuck in a socket that
		// died during the suspension.
		if l.sinceAttempt() > c.cfg.ProbeTimeout {
			action = WakeRetry
		}
	case l.retryC != nil:
		// Waiting to retry: the network may be back.
		action = WakeRetry
	}
	c.log.Info("woken", slog.String("reason", reason), slog.String("action", action.String()))
	c.emit(Woken{Reason: reason, Action: action})
	switch action {
	case WakeProbe:
		// As after Unpause: probe at once. A probe already under way
		// (an idle one) now decides the Resuming status too.
		l.stopIdle()
		c.setStatus(Resuming, nil)
		if l.probeCh != nil {
			l.resuming = true
		} else {
			l.startProbe(ctx, true)
		}
	case WakeRetry:
		if l.attemptCh != nil {
			l.cancelAttempt()
			l.attempt-- // the same attempt, started again
		} else if wait := c.cfg.ProbeTimeout - l.sinceAttempt(); wait > 0 {
			// Waiting to retry, and the last attempt began less than a
			// probe timeout ago: a network that keeps changing (a flapping
			// link, each change a wake-up) must not turn the backoff into
			// a storm of logins. Retry a probe timeout after the last
			// attempt began, or when the backoff said if that is sooner.
			if wait < time.Until(l.retryAt) {
				l.armRetry(wait)
			}
			return
		}
		l.stopRetry()
		l.startAttempt(ctx)
	}
}
