package reconnect_test

import (
	"context"
	"reflect"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/xmppbg/xmppbg/reconnect"
	"github.com/xmppbg/xmppbg/session"
)

// sleeper stands in for the machine's sleep: the bubble's clock, like
// CLOCK_MONOTONIC, does not move while the machine sleeps; the clock of the
// time slept does.
type sleeper struct{ d atomic.Int64 }

func (s *sleeper) slept() time.Duration  { return time.Duration(s.d.Load()) }
func (s *sleeper) sleep(d time.Duration) { s.d.Add(int64(d)) }

// A login attempt under way when the machine went to sleep for an hour is
// an hour old at the wake, though Go's clock saw one second: it is replaced
// at once, not left to wait out its login timeout in a socket that died
// during the sleep.
func TestWakeStaleAttemptAfterMachineSleep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &server{}
		ev := &events{}
		c := newClient(srv, ev, reconnect.Config{})
		var machine sleeper
		c.SetSlept(machine.slept)
		hang := true
		var cancelled int
		c.SetConnect(func(ctx context.Context, cfg session.Config, st *session.State) (reconnect.Conn, error) {
			if hang {
				hang = false
				<-ctx.Done() // a dial into a path that died during the sleep
				cancelled++
				return nil, ctx.Err()
			}
			return srv.connect(ctx, cfg, st)
		})
		stop := run(t, c)
		defer stop()

		time.Sleep(time.Second)
		machine.sleep(time.Hour)
		if err := c.Wake(t.Context(), "slept"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got, want := eventsOf[reconnect.Woken](ev), []reconnect.Woken{{Reason: "slept", Action: reconnect.WakeRetry}}; !reflect.DeepEqual(got, want) {
			t.Fatalf("woken %+v, want %+v: an attempt begun before an hour's sleep looked young", got, want)
		}
		if cancelled != 1 || c.Status() != reconnect.Online {
			t.Fatalf("cancelled %d, status %v: want the stale attempt replaced and online", cancelled, c.Status())
		}
		if got, want := srv.times(), []time.Duration{time.Second}; !reflect.DeepEqual(got, want) {
			t.Fatalf("logins at %v, want %v: at the wake", got, want)
		}
	})
}

// Waiting to retry after a login that failed just before the machine went
// to sleep: the last attempt is an hour old at the wake, so the wake-up
// retries at once instead of keeping a probe timeout after it.
func TestWakeRetryAfterMachineSleep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &server{fail: downFor(1)}
		ev := &events{}
		c := newClient(srv, ev, reconnect.Config{Backoff: reconnect.Backoff{Initial: time.Minute, Max: time.Hour}})
		var machine sleeper
		c.SetSlept(machine.slept)
		stop := run(t, c)
		defer stop()

		time.Sleep(time.Second) // attempt 1 at 0 failed; the next at 1 min
		machine.sleep(time.Hour)
		if err := c.Wake(t.Context(), "slept"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got, want := srv.times(), []time.Duration{0, time.Second}; !reflect.DeepEqual(got, want) {
			t.Fatalf("logins at %v, want %v: the wake after an hour's sleep retries at once", got, want)
		}
		if c.Status() != reconnect.Online {
			t.Fatalf("status %v", c.Status())
		}
	})
}
