package main

import (
	"fmt"
	"time"

	"github.com/xmppbg/xmppbg/internal/driver"
	"github.com/xmppbg/xmppbg/internal/scenario"
	"github.com/xmppbg/xmppbg/reconnect"
	"github.com/xmppbg/xmppbg/session"
	"github.com/xmppbg/xmppbg/suspend"
)

// goldenChatEvents is a representative set of the driver's events, in the
// order a chat could meet them.
func goldenChatEvents() []driver.Event {
	plain, delayed := goldenMessages()
	sent := session.Message{To: "bob@example.org", Type: "chat", Body: "hello", ID: "s1", OriginID: "s1"}
	rf := &session.ResumeFailedError{Condition: "item-not-found"}
	at := driver.Stamp{At: goldenNow}
	return []driver.Event{
		driver.Warning{Stamp: at, Reason: driver.WarnStateFile, Err: fmt.Errorf("bad magic")},
		driver.StateChanged{Stamp: at, State: driver.Connecting},
		driver.StateChanged{Stamp: at, State: driver.Online},
		driver.Sent{Stamp: at, Message: sent},
		driver.Acked{Stamp: at, IDs: []string{"s1"}},
		driver.Received{Stamp: at, Message: plain},
		driver.Duplicate{Stamp: at, Message: plain},
		driver.StateChanged{Stamp: at, State: driver.Background},
		driver.Lifecycle{Stamp: at, Step: suspend.WindowExpired{Window: 30 * time.Second}},
		driver.Lifecycle{Stamp: at, Step: suspend.PolicyRan{Policy: suspend.PolicyDetach}},
		driver.Lifecycle{Stamp: at, Step: suspend.PolicyRan{Policy: suspend.PolicyClose, Err: errGolden}},
		driver.StateChanged{Stamp: at, State: driver.Suspended},
		driver.Lifecycle{Stamp: at, Step: suspend.FaultInjected{Fault: suspend.FaultRST}},
		driver.Lifecycle{Stamp: at, Step: suspend.FaultInjected{Fault: suspend.FaultBlackhole}},
		driver.Lifecycle{Stamp: at, Step: suspend.FaultInjected{Fault: suspend.FaultReclaim}},
		driver.Sent{Stamp: at, Message: sent, Queued: true},
		driver.Woke{Stamp: at, Cause: suspend.Continued, Late: 95432 * time.Millisecond, Action: reconnect.WakeProbe},
		driver.Woke{Stamp: at, Cause: suspend.Slept, Slept: 8 * time.Hour, Action: reconnect.WakeRetry},
		driver.Woke{Stamp: at, Cause: suspend.LateTimer, Late: 61 * time.Second, Action: reconnect.WakeIgnored},
		driver.Woke{Stamp: at, Cause: suspend.NetworkChanged, Action: reconnect.WakeProbe},
		driver.StateChanged{Stamp: at, State: driver.Resuming},
		driver.Dead{Stamp: at, ByProbe: true, Took: 2 * time.Second, Err: errGolden},
		driver.Dead{Stamp: at, Err: errGolden},
		driver.StateChanged{Stamp: at, State: driver.Reconnecting, Err: errGolden},
		driver.Retrying{Stamp: at, Attempt: 2, Delay: 1234567 * time.Microsecond, Err: errGolden},
		driver.Resent{Stamp: at, IDs: []string{"s1", "s2"}},
		driver.Resumed{Stamp: at, Login: 87654 * time.Microsecond, Attempt: 1},
		driver.StateChanged{Stamp: at, State: driver.Online, SinceResume: 2345 * time.Millisecond},
		driver.Warning{Stamp: at, Reason: driver.WarnResumeFailed, Err: rf},
		driver.Warning{Stamp: at, Reason: driver.WarnResumeSkipped, Skip: session.ResumeSkipExpired, Detail: session.ResumeSkipExpired.String()},
		driver.Warning{Stamp: at, Reason: driver.WarnResumeSkipped, Skip: session.ResumeSkipNoSM, Detail: session.ResumeSkipNoSM.String()},
		driver.Warning{Stamp: at, Reason: driver.WarnStanzaSkipped, Stanza: session.Skipped{Kind: "message", ID: "deep1", From: "mallory@example.org/x\u202e", Reason: session.SkipTooDeep}},
		driver.Resent{Stamp: at, IDs: []string{"s2"}, Delayed: true},
		driver.StateChanged{Stamp: at, State: driver.Online, Fresh: true},
		driver.Received{Stamp: at, Message: delayed},
		driver.Warning{Stamp: at, Reason: driver.WarnSession, Detail: "the server does not offer stream management (XEP-0198): sent messages are not acknowledged and may be lost if the connection breaks"},
		driver.Undelivered{Stamp: at, Stanza: session.Ref{Kind: "iq", ID: "iq7"}, Reason: "resumption failed"},
		driver.StateChanged{Stamp: at, State: driver.Offline, Err: errGolden},
		driver.StateChanged{Stamp: at, State: driver.Offline},
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
	e := func(ms int, who, name, state, text string, ev driver.Event) scenario.Entry {
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
		e(0, "alice", "state", "online", "state online", driver.StateChanged{State: driver.Online}),
		stmt,
		e(11, "alice", "sent", "", `sent "alice #1" to bob`, driver.Sent{Message: sent}),
		e(12, "bob", "message", "", `received "hi <b> & \x1b[2J" from bob`, driver.Received{Message: plain}),
		e(13, "alice", "message", "", `received "while you were away" from bob (delayed: held by the server)`, driver.Received{Message: delayed}),
		e(14, "alice", "acked", "", "server acknowledged 2 messages", driver.Acked{IDs: []string{"s1", "s2"}}),
		e(15, "alice", "sent", "", `sent "alice #2" to bob (queued until online)`, driver.Sent{Message: sent, Queued: true}),
		e(16, "alice", "dead", "", "dead detected 2.00s after /resume (probe): "+errGolden.Error(), driver.Dead{ByProbe: true, Took: 2 * time.Second, Err: errGolden}),
		e(17, "alice", "dead", "", "connection dead (a read or write failed): "+errGolden.Error(), driver.Dead{Err: errGolden}),
		e(17, "alice", "woke", "", "noticed a suspension (SIGCONT: the process was stopped and continued): probing the connection", driver.Woke{Cause: suspend.Continued, Late: 95432 * time.Millisecond, Action: reconnect.WakeProbe}),
		e(18, "alice", "resumed", "", "stream resumed (XEP-0198), login took 88ms", driver.Resumed{Login: 87654 * time.Microsecond, Attempt: 1}),
		e(19, "alice", "state", "online", "state online (fresh session): back 400ms after the connection died, fresh session", driver.StateChanged{State: driver.Online, Fresh: true, SinceResume: 400 * time.Millisecond}),
		e(19, "alice", "state", "active", "state active (back in the foreground)", nil),
		e(19, "alice", "resent", "", "resent 1 unacknowledged message with a delay stamp (fresh session)", driver.Resent{IDs: []string{"s2"}, Delayed: true}),
		e(19, "alice", "lifecycle", "", "socket torn by RST", driver.Lifecycle{Step: suspend.FaultInjected{Fault: suspend.FaultRST}}),
		e(19, "alice", "warning", "", "warning: the server does not offer stream management", driver.Warning{Reason: driver.WarnSession, Detail: "the server does not offer stream management"}),
		e(19, "alice", "status", "", "app active, connection online", nil),
		ok,
		e(25, "server", "server", "", "stopping with SIGTERM, then starting again", nil),
		bad,
	}
}
