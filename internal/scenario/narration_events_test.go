package scenario

import (
	"errors"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/driver"
	"github.com/xmppbg/xmppbg/session"
	"github.com/xmppbg/xmppbg/suspend"
)

// narrate feeds a representative run's events to a runner and returns the
// entries it recorded and its result.
func narrate(t *testing.T) ([]Entry, *Result) {
	t.Helper()
	r := newRunner(Env{Domain: "example.org"}.withDefaults(), &Script{Name: "golden"})
	r.start = goldenStart
	at := func(ms int) time.Time { return goldenStart.Add(time.Duration(ms) * time.Millisecond) }
	errReset := errors.New("connection reset by peer")
	a1 := session.Message{To: "bob@example.org", Body: "alice #1", ID: "a1", OriginID: "oa1"}
	a2 := session.Message{To: "bob@example.org/phone", Body: "alice #2", ID: "a2", OriginID: "oa2"}
	other := session.Message{To: "carol@example.org", Body: "to carol", ID: "c1"}
	b1 := session.Message{From: "bob@example.org/phone", To: "alice@example.org/x", Body: "bob #1", ID: "b1", OriginID: "ob1"}
	b1d := b1
	b1d.Delay = at(100)
	a1in := a1
	a1in.From = "alice@example.org/x"

	ev := func(sd *side, ms int, e driver.Event) {
		if e.Time() != at(ms) {
			t.Fatalf("event %T stamped %v, want +%dms", e, e.Time(), ms)
		}
		r.onEvent(sd, e)
	}
	st := func(ms int) driver.Stamp { return driver.Stamp{At: at(ms)} }
	ev(r.alice, 0, driver.StateChanged{Stamp: st(0), State: driver.Connecting})
	ev(r.alice, 10, driver.StateChanged{Stamp: st(10), State: driver.Online})
	ev(r.bob, 11, driver.StateChanged{Stamp: st(11), State: driver.Online})
	ev(r.alice, 20, driver.Sent{Stamp: st(20), Message: a1})
	ev(r.alice, 21, driver.Sent{Stamp: st(21), Message: other})
	ev(r.bob, 25, driver.Received{Stamp: st(25), Message: a1in})
	ev(r.alice, 30, driver.Acked{Stamp: st(30), IDs: []string{"a1"}})
	ev(r.alice, 31, driver.Acked{Stamp: st(31), IDs: []string{"a1", "c1"}})
	ev(r.alice, 40, driver.StateChanged{Stamp: st(40), State: driver.Background})
	ev(r.alice, 41, driver.Lifecycle{Stamp: st(41), Step: suspend.WindowExpired{Window: time.Second}})
	ev(r.alice, 42, driver.Lifecycle{Stamp: st(42), Step: suspend.PolicyRan{Policy: suspend.PolicyDetach}})
	ev(r.alice, 43, driver.StateChanged{Stamp: st(43), State: driver.Suspended})
	ev(r.alice, 44, driver.Lifecycle{Stamp: st(44), Step: suspend.FaultInjected{Fault: suspend.FaultRST}})
	ev(r.alice, 45, driver.Sent{Stamp: st(45), Message: a2, Queued: true})
	// /resume, as the runner's chat statement records it.
	r.mu.Lock()
	r.repairs = append(r.repairs, &Repair{Cause: "resume", Start: 50 * time.Millisecond})
	r.recordLocked(Entry{Who: "alice", Name: "state", State: "active", Time: at(50), Text: "state active (back in the foreground)"})
	r.mu.Unlock()
	ev(r.alice, 51, driver.StateChanged{Stamp: st(51), State: driver.Resuming})
	ev(r.alice, 2051, driver.Dead{Stamp: st(2051), Err: errReset, ByProbe: true, Took: 2 * time.Second})
	ev(r.alice, 2052, driver.StateChanged{Stamp: st(2052), State: driver.Reconnecting, Err: errReset})
	ev(r.alice, 2060, driver.Retrying{Stamp: st(2060), Attempt: 1, Delay: 250 * time.Millisecond, Err: errReset})
	ev(r.alice, 2400, driver.Resent{Stamp: st(2400), IDs: []string{"a2"}})
	ev(r.alice, 2401, driver.Resumed{Stamp: st(2401), Login: 87654 * time.Microsecond, Attempt: 2})
	ev(r.alice, 2402, driver.StateChanged{Stamp: st(2402), State: driver.Online, SinceResume: 2352 * time.Millisecond})
	ev(r.bob, 2403, driver.Received{Stamp: st(2403), Message: b1})
	ev(r.bob, 2404, driver.Sent{Stamp: st(2404), Message: b1})
	ev(r.alice, 2405, driver.Received{Stamp: st(2405), Message: b1})
	ev(r.alice, 2406, driver.Duplicate{Stamp: st(2406), Message: b1})
	ev(r.alice, 2407, driver.Received{Stamp: st(2407), Message: b1d})
	// The connection dies on its own, then a fresh session replaces it.
	ev(r.alice, 3000, driver.Dead{Stamp: st(3000), Err: errReset})
	ev(r.alice, 3001, driver.StateChanged{Stamp: st(3001), State: driver.Reconnecting, Err: errReset})
	ev(r.alice, 3100, driver.Warning{Stamp: st(3100), Reason: driver.WarnResumeSkipped, Skip: session.ResumeSkipExpired, Detail: session.ResumeSkipExpired.String()})
	ev(r.alice, 3101, driver.Resent{Stamp: st(3101), IDs: []string{"a2", "a3"}, Delayed: true})
	ev(r.alice, 3102, driver.StateChanged{Stamp: st(3102), State: driver.Online, Fresh: true})
	ev(r.alice, 3103, driver.Undelivered{Stamp: st(3103), Stanza: session.Ref{Kind: "iq", ID: "iq1"}, Reason: "resumption failed"})
	// A second /resume whose probe answers: the connection is kept.
	r.mu.Lock()
	r.repairs = append(r.repairs, &Repair{Cause: "resume", Start: 4000 * time.Millisecond})
	r.mu.Unlock()
	ev(r.alice, 4001, driver.StateChanged{Stamp: st(4001), State: driver.Resuming})
	ev(r.alice, 4010, driver.StateChanged{Stamp: st(4010), State: driver.Online, SinceResume: 10 * time.Millisecond})
	ev(r.alice, 4500, driver.StateChanged{Stamp: st(4500), State: driver.Offline, Err: errReset})
	r.mu.Lock()
	r.duration = 5 * time.Second
	r.mu.Unlock()
	return r.entries, r.result()
}
