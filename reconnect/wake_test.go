package reconnect_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"testing/synctest"
	"time"

	"github.com/xmppbg/xmppbg/reconnect"
	"github.com/xmppbg/xmppbg/session"
)

// times returns when the logins began, after start: a copy, read under the
// server's lock (a login may be under way on the client's goroutine).
func (s *server) times() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.attempts...)
}

// A wake-up over a black-holed connection: probed, found dead after the
// probe timeout, repaired at once.
func TestWakeProbesAndRepairsDeadConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &server{}
		c, ev := runOnline(t, srv, reconnect.Config{})
		first := srv.last()
		first.mu.Lock()
		first.probe = session.ErrProbeTimeout
		first.mu.Unlock()

		time.Sleep(time.Minute)
		wokeAt := time.Since(srv.start)
		if err := c.Wake(t.Context(), "sigcont"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := c.Status(); got != reconnect.Resuming {
			t.Fatalf("status %v while probing after a wake-up, want resuming", got)
		}
		time.Sleep(reconnect.DefaultProbeTimeout)
		synctest.Wait()

		if got, want := eventsOf[reconnect.Woken](ev), []reconnect.Woken{{Reason: "sigcont", Action: reconnect.WakeProbe}}; !reflect.DeepEqual(got, want) {
			t.Fatalf("woken %+v, want %+v", got, want)
		}
		if d := eventsOf[reconnect.Dead](ev); len(d) != 1 || !d[0].ByProbe || d[0].Took != reconnect.DefaultProbeTimeout {
			t.Fatalf("dead %+v, want one found by a %v probe", d, reconnect.DefaultProbeTimeout)
		}
		// Repaired at once, not after a backoff delay.
		if n := srv.count(); n != 2 || srv.times()[1] != wokeAt+reconnect.DefaultProbeTimeout {
			t.Fatalf("attempts at %v; want the second at %v", srv.times(), wokeAt+reconnect.DefaultProbeTimeout)
		}
		if got := c.Status(); got != reconnect.Online {
			t.Fatalf("status %v after the repair", got)
		}
		if got, want := ev.states(), []string{"connecting", "online", "resuming", "reconnecting", "online"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("states %v, want %v", got, want)
		}
	})
}

// A wake-up over a healthy connection costs one probe and nothing else.
func TestWakeHealthyConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &server{}
		c, ev := runOnline(t, srv, reconnect.Config{})
		if err := c.Wake(t.Context(), "slept"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if n := srv.last().probeCount(); n != 1 {
			t.Fatalf("%d probes after a wake-up, want 1", n)
		}
		if srv.count() != 1 || len(eventsOf[reconnect.Dead](ev)) != 0 {
			t.Fatalf("%d logins, dead %v: a healthy connection was replaced", srv.count(), eventsOf[reconnect.Dead](ev))
		}
		if got, want := ev.states(), []string{"connecting", "online", "resuming", "online"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("states %v, want %v", got, want)
		}
		// The idle probe is re-armed from the wake-up's probe.
		time.Sleep(reconnect.DefaultIdleProbe - time.Second)
		synctest.Wait()
		if n := srv.last().probeCount(); n != 1 {
			t.Fatalf("%d probes before the idle interval passed", n)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if n := srv.last().probeCount(); n != 2 {
			t.Fatalf("%d probes, want the idle probe", n)
		}
	})
}

// While the app is paused (suspended on purpose) a wake-up does nothing:
// Unpause probes anyway.
func TestWakeWhilePausedIsIgnored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &server{}
		c, ev := runOnline(t, srv, reconnect.Config{})
		c.Pause()
		if err := c.Wake(t.Context(), "late-timer"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if n := srv.last().probeCount(); n != 0 {
			t.Fatalf("%d probes while paused", n)
		}
		if got, want := eventsOf[reconnect.Woken](ev), []reconnect.Woken{{Reason: "late-timer", Action: reconnect.WakeIgnored}}; !reflect.DeepEqual(got, want) {
			t.Fatalf("woken %+v, want %+v", got, want)
		}
		if c.Status() != reconnect.Suspended {
			t.Fatalf("status %v", c.Status())
		}
	})
}

// Waiting to retry, a wake-up tries at once: the network may be back.
func TestWakeCutsRetryWaitShort(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &server{fail: downFor(2)}
		ev := &events{}
		c := newClient(srv, ev, reconnect.Config{Backoff: reconnect.Backoff{Initial: time.Minute, Max: time.Hour}})
		stop := run(t, c)
		defer stop()
		time.Sleep(time.Second) // attempt 1 at 0 failed; the next at 1 min
		synctest.Wait()
		if err := c.Wake(t.Context(), "sigcont"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		// Within a probe timeout (3 s) of the last attempt: the retry
		// moves to 3 s, not 1 min.
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if got, want := srv.times(), []time.Duration{0, 3 * time.Second}; !reflect.DeepEqual(got, want) {
			t.Fatalf("attempts at %v, want %v", got, want)
		}
		// Later than that (attempt 3 would be minutes away): at once.
		time.Sleep(10 * time.Second)
		if err := c.Wake(t.Context(), "sigcont"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got, want := srv.times(), []time.Duration{0, 3 * time.Second, 13 * time.Second}; !reflect.DeepEqual(got, want) {
			t.Fatalf("attempts at %v, want %v", got, want)
		}
		if got, want := eventsOf[reconnect.Woken](ev), []reconnect.Woken{{Reason: "sigcont", Action: reconnect.WakeRetry}, {Reason: "sigcont", Action: reconnect.WakeRetry}}; !reflect.DeepEqual(got, want) {
			t.Fatalf("woken %+v, want %+v", got, want)
		}
	})
}

// Wake-ups in a burst (a network that keeps changing) while the server
// cannot be reached start at most one login per probe timeout: they cut the
// backoff short, but never turn it into a storm.
func TestWakeBurstKeepsLoginsApart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &server{fail: func(int) error { return errDown }}
		ev := &events{}
		c := newClient(srv, ev, reconnect.Config{
			Backoff:      reconnect.Backoff{Initial: time.Minute, Max: time.Hour},
			ProbeTimeout: 3 * time.Second,
		})
		stop := run(t, c)
		defer stop()
		start := time.Now()
		// A wake-up every 100 ms for 10 s.
		for range 100 {
			time.Sleep(100 * time.Millisecond)
			if err := c.Wake(t.Context(), "network"); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
		}
		got := srv.times()
		if len(got) < 3 || len(got) > 5 {
			t.Fatalf("%d logins in %v of wake-ups (at %v), want one per probe timeout (3 s)", len(got), time.Since(start), got)
		}
		for i := 1; i < len(got); i++ {
			if d := got[i] - got[i-1]; d < 3*time.Second {
				t.Fatalf("logins at %v: %v apart, want at least the probe timeout", got, d)
			}
		}
	})
}

// A login attempt that began before the suspension may be stuck in a dead
// socket: a wake-up starts it again; a recent one is left alone.
func TestWakeRestartsStaleAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &server{}
		ev := &events{}
		c := newClient(srv, ev, reconnect.Config{})
		hang := true
		var cancelled int
		c.SetConnect(func(ctx context.Context, cfg session.Config, st *session.State) (reconnect.Conn, error) {
			if hang {
				hang = false
				<-ctx.Done() // a dial into a black hole
				cancelled++
				return nil, ctx.Err()
			}
			return srv.connect(ctx, cfg, st)
		})
		stop := run(t, c)
		defer stop()

		time.Sleep(time.Second) // younger than the probe timeout
		if err := c.Wake(t.Context(), "sigcont"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if cancelled != 0 {
			t.Fatal("a recent attempt was started again")
		}
		time.Sleep(time.Minute)
		if err := c.Wake(t.Context(), "sigcont"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if cancelled != 1 || c.Status() != reconnect.Online {
			t.Fatalf("cancelled %d, status %v: want the stale attempt replaced and online", cancelled, c.Status())
		}
		if got, want := eventsOf[reconnect.Woken](ev), []reconnect.Woken{{Reason: "sigcont", Action: reconnect.WakeIgnored}, {Reason: "sigcont", Action: reconnect.WakeRetry}}; !reflect.DeepEqual(got, want) {
			t.Fatalf("woken %+v, want %+v", got, want)
		}
	})
}

// A connection the session found dead by its ack timeout is repaired after
// a jittered moment of at most Backoff.Initial, as one dropped by the
// server, not at once: the server may be too loaded to acknowledge, and
// all its clients time out together. (The test's random draws are the
// largest: the full Initial.)
func TestAckTimeoutDeathRepairsAfterJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &server{}
		_, ev := runOnline(t, srv, reconnect.Config{Backoff: reconnect.Backoff{Initial: 2 * time.Second, Max: time.Hour}})
		time.Sleep(time.Minute)
		at := time.Since(srv.start)
		srv.last().end(&session.ConnError{Op: "read", Err: session.ErrAckTimeout})
		synctest.Wait()
		if got, want := srv.times(), []time.Duration{0}; !reflect.DeepEqual(got, want) {
			t.Fatalf("attempts at %v right after the ack timeout, want %v: no jitter", got, want)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if got, want := srv.times(), []time.Duration{0, at + 2*time.Second}; !reflect.DeepEqual(got, want) {
			t.Fatalf("attempts at %v, want %v", got, want)
		}
		if d := eventsOf[reconnect.Dead](ev); len(d) != 1 || !errors.Is(d[0].Err, session.ErrAckTimeout) {
			t.Fatalf("dead %+v", d)
		}
	})
}
