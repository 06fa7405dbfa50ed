package reconnect

import (
	"math/rand/v2"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Backoff defaults.
const (
	// DefaultInitialInterval is the first retry interval. Short, because a
	// phone usually reconnects into a working network.
	DefaultInitialInterval = 1 * time.Second
	// DefaultMaxInterval caps the interval. Two minutes keeps a client
	// that lost its server from waking the radio more than about 30 times an
	// hour, while still finding the server back soon after it returns.
	DefaultMaxInterval = 2 * time.Minute
	// DefaultMinDelay is the shortest delay between attempts: full jitter
	// may draw something near zero, and a few in a row would be a hot loop.
	DefaultMinDelay = 100 * time.Millisecond
)

// Backoff configures the retry schedule: exponential growth of the interval
// (doubling from Initial up to Max) with full jitter (each delay drawn
// uniformly between MinDelay and the current interval), reset after every
// successful login.
type Backoff struct {
	// Initial is the first interval. Default DefaultInitialInterval.
	Initial time.Duration
	// Max caps the interval. Default DefaultMaxInterval.
	Max time.Duration
	// MinDelay is the least delay drawn. Default DefaultMinDelay.
	MinDelay time.Duration
	// GiveUpAfter stops retrying when no login has succeeded for that long;
	// Run then returns ErrGaveUp. Zero (the default) never gives up, as a
	// chat client should not: unlike cenkalti/backoff's 15-minute default,
	// which would leave a phone offline after a long tunnel.
	GiveUpAfter time.Duration
}

func (b Backoff) withDefaults() Backoff {
	if b.Initial <= 0 {
		b.Initial = DefaultInitialInterval
	}
	if b.Max <= 0 {
		b.Max = DefaultMaxInterval
	}
	if b.Max < b.Initial {
		b.Max = b.Initial
	}
	if b.MinDelay <= 0 {
		b.MinDelay = DefaultMinDelay
	}
	if b.MinDelay > b.Initial {
		b.MinDelay = b.Initial
	}
	return b
}

// fullJitter draws each delay uniformly from [min, interval], where interval
// grows exponentially (cenkalti/backoff without its own randomisation).
type fullJitter struct {
	exp  *backoff.ExponentialBackOff
	min  time.Duration
	rand func(n int64) int64
}

func newBackOff(b Backoff, randn func(int64) int64) *fullJitter {
	b = b.withDefaults()
	exp := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(b.Initial),
		backoff.WithMaxInterval(b.Max),
		backoff.WithMultiplier(2),
		backoff.WithRandomizationFactor(0),
		backoff.WithMaxElapsedTime(b.GiveUpAfter),
	)
	if randn == nil {
		randn = rand.Int64N
	}
	return &fullJitter{exp: exp, min: b.MinDelay, rand: randn}
}

// Next returns the next delay, or false when it is time to give up.
func (f *fullJitter) Next() (time.Duration, bool) {
	d := f.exp.NextBackOff()
	if d == backoff.Stop {
		return 0, false
	}
	if d <= f.min {
		return f.min, true
	}
	return f.min + time.Duration(f.rand(int64(d-f.min)+1)), true
}

// Reset starts the schedule again, after a successful login.
func (f *fullJitter) Reset() { f.exp.Reset() }
