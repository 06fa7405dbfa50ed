package main

import (
	"fmt"
	"time"

	"github.com/xmppbg/xmppbg/internal/driver"
	"github.com/xmppbg/xmppbg/internal/scenario"
	"github.com/xmppbg/xmppbg/session"
)

// goldenChatEvents is a representative set of the driver's events, in the
// order a chat could meet them.
func goldenChatEvents() []driver.Event {
	plain, delayed := goldenMessages()
	sent := session.Message{To: "bob@example.org", Type: "chat", Body: "hello", ID: "s1", OriginID: "s1"}
	rf := &session.ResumeFailedError{Condition: "item-not-found"}
	return []driver.Event{
		{Name: "warning", Text: "state file: bad magic; starting a fresh session with the messages it held", Err: fmt.Errorf("bad magic")},
		{Name: "state", State: "connecting"},
		{Name: "state", State: "online"},
		{Name: "sent", Message: &sent, Queued: false},
		{Name: "acked", IDs: []string{"s1"}},
		{Name: "message", Message: &plain},
		{Name: "duplicate", Message: &plain, Text: "dropped a message already delivered"},
		{Name: "state", State: "background"},
		{Name: "lifecycle", Text: fmt.Sprintf("background window of %v expired", 30*time.Second)},
		{Name: "lifecycle", Text: "policy detach ran"},
		{Name: "lifecycle", Text: "policy close ran: " + errGolden.Error(), Err: errGolden},
		{Name: "state", State: "suspended"},
		{Name: "lifecycle", Text: "socket torn by RST"},
		{Name: "lifecycle", Text: "socket black-holed"},
		{Name: "lifecycle", Text: "socket reclaimed by the OS"},
		{Name: "sent", Message: &sent, Queued: true},
		{Name: "state", State: "resuming"},
		{Name: "dead", ByProbe: true, Took: 2 * time.Second, Err: errGolden, Text: errGolden.Error()},
		{Name: "dead", Err: errGolden, Text: errGolden.Error()},
		{Name: "state", State: "reconnecting", Err: errGolden, Text: errGolden.Error()},
		{Name: "retry", Attempt: 2, Took: 1234567 * time.Microsecond, Err: errGolden, Text: errGolden.Error()},
		{Name: "resent", IDs: []string{"s1", "s2"}, Delayed: false},
		{Name: "resumed", Took: 87654 * time.Microsecond, Attempt: 1},
		{Name: "state", State: "online", Took: 2345 * time.Millisecond},
		{Name: "warning", Text: rf.Error() + "; opened a fresh session", Err: rf},
		{Name: "warning", Text: "resumption skipped: the server's maximum resumption time has passed; opened a fresh session"},
		{Name: "warning", Text: "resumption skipped: stream management is off; opened a fresh session"},
		{Name: "resent", IDs: []string{"s2"}, Delayed: true},
		{Name: "state", State: "online", Fresh: true},
		{Name: "message", Message: &delayed},
		{Name: "warning", Text: "the server does not offer stream management (XEP-0198): sent messages are not acknowledged and may be lost if the connection breaks"},
		{Name: "error", IDs: []string{"iq7"}, Text: "iq iq7 not delivered: resumption failed"},
		{Name: "state", State: "offline", Err: errGolden, Text: errGolden.Error()},
		{Name: "state", State: "offline"},
	}
}

// goldenEntries is a timeline with an entry of each kind, as the runner
// records them.
func goldenEntries(plain, delayed session.Message) []scenario.Entry {
	sent := session.Message{To: "bob@example.org", Type: "chat", Body: "alice #1", ID: "s1", OriginID: "s1"}
	at := func(ms int) (time.Duration, time.Time) {
		d := time.Duration(ms) * time.Millisecond
		return d, goldenNow.Add(d)
	}
	e := func(ms int, who, name, state, text string, ev *driver.Event) scenario.Entry {
		d, tm := at(ms)
		return scenario.Entry{At: d, Time: tm, Who: who, Name: name, State: state, Text: text, Event: ev}
	}
	stmt := e(10, "script", "statement", "", "send 1", nil)
	stmt.Line = 3
	ok := e(20, "check", "expect", "", "ok expect received 1: alice got 1 distinct message from bob", nil)
	ok.Line, ok.OK = 4, true
	bad := e(30, "check", "expect", "", "FAILED expect delivered: bob never got 1 message: alice #3", nil)
	bad.Line = 9
	return []scenario.Entry{
		e(0, "alice", "state", "online", "state online", &driver.Event{Name: "state", State: "online"}),
		stmt,
		e(11, "alice", "sent", "", `sent "alice #1" to bob`, &driver.Event{Name: "sent", Message: &sent}),
		e(12, "bob", "message", "", `received "hi <b> & \x1b[2J" from bob`, &driver.Event{Name: "message", Message: &plain}),
		e(13, "alice", "message", "", `received "while you were away" from bob (delayed: held by the server)`, &driver.Event{Name: "message", Message: &delayed}),
		e(14, "alice", "acked", "", "server acknowledged 2 messages", &driver.Event{Name: "acked", IDs: []string{"s1", "s2"}}),
		e(15, "alice", "sent", "", `sent "alice #2" to bob (queued until online)`, &driver.Event{Name: "sent", Message: &sent, Queued: true}),
		e(16, "alice", "dead", "", "dead detected 2.00s after /resume (probe): "+errGolden.Error(), &driver.Event{Name: "dead", ByProbe: true, Took: 2 * time.Second, Text: errGolden.Error()}),
		e(17, "alice", "dead", "", "connection dead (a read or write failed): "+errGolden.Error(), &driver.Event{Name: "dead", Text: errGolden.Error()}),
		e(18, "alice", "resumed", "", "stream resumed (XEP-0198), login took 88ms", &driver.Event{Name: "resumed", Took: 87654 * time.Microsecond, Attempt: 1}),
		e(19, "alice", "state", "online", "state online (fresh session): back 400ms after the connection died, fresh session", &driver.Event{Name: "state", State: "online", Fresh: true, Took: 400 * time.Millisecond}),
		e(19, "alice", "state", "active", "state active (back in the foreground)", nil),
		e(19, "alice", "resent", "", "resent 1 unacknowledged message with a delay stamp (fresh session)", &driver.Event{Name: "resent", IDs: []string{"s2"}, Delayed: true}),
		e(19, "alice", "lifecycle", "", "socket torn by RST", &driver.Event{Name: "lifecycle", Text: "socket torn by RST"}),
		e(19, "alice", "warning", "", "warning: the server does not offer stream management", &driver.Event{Name: "warning", Text: "the server does not offer stream management"}),
		e(19, "alice", "status", "", "app active, connection online", nil),
		ok,
		e(25, "server", "server", "", "stopping with SIGTERM, then starting again", nil),
		bad,
	}
}
