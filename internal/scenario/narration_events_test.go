package scenario

import (
	"errors"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/driver"
	"github.com/xmppbg/xmppbg/session"
)

// narrate feeds a representative run's events to a runner and returns the
// entries it recorded and its result.
func narrate(t *testing.T) ([]Entry, *Result) {
	t.Helper()
	r := &runner{
		script: &Script{Name: "golden"},
		alice:  &side{name: "alice", jid: "alice@example.org"},
		bob:    &side{name: "bob", jid: "bob@example.org"},
		wake:   make(chan struct{}, 1),
		start:  goldenStart,
	}
	r.alice.flow = &flow{seen: map[string]bool{}, got: map[string]int{}}
	r.bob.flow = &flow{seen: map[string]bool{}, got: map[string]int{}}
	r.alice.peer, r.bob.peer = r.bob, r.alice
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
		e.At = at(ms)
		r.onEvent(sd, e)
	}
	ev(r.alice, 0, driver.Event{Name: "state", State: "connecting"})
	ev(r.alice, 10, driver.Event{Name: "state", State: "online"})
	ev(r.bob, 11, driver.Event{Name: "state", State: "online"})
	ev(r.alice, 20, driver.Event{Name: "sent", Message: &a1})
	ev(r.alice, 21, driver.Event{Name: "sent", Message: &other})
	ev(r.bob, 25, driver.Event{Name: "message", Message: &a1in})
	ev(r.alice, 30, driver.Event{Name: "acked", IDs: []string{"a1"}})
	ev(r.alice, 31, driver.Event{Name: "acked", IDs: []string{"a1", "c1"}})
	ev(r.alice, 40, driver.Event{Name: "state", State: "background"})
	ev(r.alice, 41, driver.Event{Name: "lifecycle", Text: "background window of 1s expired"})
	ev(r.alice, 42, driver.Event{Name: "lifecycle", Text: "policy detach ran"})
	ev(r.alice, 43, driver.Event{Name: "state", State: "suspended"})
	ev(r.alice, 44, driver.Event{Name: "lifecycle", Text: "socket torn by RST"})
	ev(r.alice, 45, driver.Event{Name: "sent", Message: &a2, Queued: true})
	// /resume, as the runner's chat statement records it.
	r.mu.Lock()
	r.repairs = append(r.repairs, &Repair{Cause: "resume", Start: 50 * time.Millisecond})
	r.recordLocked(Entry{Who: "alice", Name: "state", State: "active", Time: at(50), Text: "state active (back in the foreground)"})
	r.mu.Unlock()
	ev(r.alice, 51, driver.Event{Name: "state", State: "resuming"})
	ev(r.alice, 2051, driver.Event{Name: "dead", ByProbe: true, Took: 2 * time.Second, Err: errReset, Text: errReset.Error()})
	ev(r.alice, 2052, driver.Event{Name: "state", State: "reconnecting", Err: errReset, Text: errReset.Error()})
	ev(r.alice, 2060, driver.Event{Name: "retry", Attempt: 1, Took: 250 * time.Millisecond, Err: errReset, Text: errReset.Error()})
	ev(r.alice, 2400, driver.Event{Name: "resent", IDs: []string{"a2"}})
	ev(r.alice, 2401, driver.Event{Name: "resumed", Took: 87654 * time.Microsecond, Attempt: 2})
	ev(r.alice, 2402, driver.Event{Name: "state", State: "online", Took: 2352 * time.Millisecond})
	ev(r.bob, 2403, driver.Event{Name: "message", Message: &b1})
	ev(r.bob, 2404, driver.Event{Name: "sent", Message: &b1})
	ev(r.alice, 2405, driver.Event{Name: "message", Message: &b1})
	ev(r.alice, 2406, driver.Event{Name: "duplicate", Message: &b1, Text: "dropped a message already delivered"})
	ev(r.alice, 2407, driver.Event{Name: "message", Message: &b1d})
	// The connection dies on its own, then a fresh session replaces it.
	ev(r.alice, 3000, driver.Event{Name: "dead", Err: errReset, Text: errReset.Error()})
	ev(r.alice, 3001, driver.Event{Name: "state", State: "reconnecting", Err: errReset, Text: errReset.Error()})
	ev(r.alice, 3100, driver.Event{Name: "warning", Text: "resumption skipped: the server's maximum resumption time has passed; opened a fresh session"})
	ev(r.alice, 3101, driver.Event{Name: "resent", IDs: []string{"a2", "a3"}, Delayed: true})
	ev(r.alice, 3102, driver.Event{Name: "state", State: "online", Fresh: true})
	ev(r.alice, 3103, driver.Event{Name: "error", IDs: []string{"iq1"}, Text: "iq iq1 not delivered: resumption failed"})
	// A second /resume whose probe answers: the connection is kept.
	r.mu.Lock()
	r.repairs = append(r.repairs, &Repair{Cause: "resume", Start: 4000 * time.Millisecond})
	r.mu.Unlock()
	ev(r.alice, 4001, driver.Event{Name: "state", State: "resuming"})
	ev(r.alice, 4010, driver.Event{Name: "state", State: "online", Took: 10 * time.Millisecond})
	ev(r.alice, 4500, driver.Event{Name: "state", State: "offline", Err: errReset, Text: errReset.Error()})
	r.mu.Lock()
	r.duration = 5 * time.Second
	r.mu.Unlock()
	return r.entries, r.result()
}

var _ = testing.Short
