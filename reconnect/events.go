package reconnect

import (
	"sync"
	"time"

	"github.com/xmppbg/xmppbg/session"
)

// Status is the supervisor's view of the connection.
type Status int

// States, in the order a client usually meets them.
const (
	// Connecting: the first login is under way.
	Connecting Status = iota + 1
	// Online: a session is up.
	Online
	// Suspended: paused; no I/O at all until Unpause.
	Suspended
	// Resuming: back from a suspension, probing the connection.
	Resuming
	// Reconnecting: the connection was lost; logging in again (with
	// backoff between attempts).
	Reconnecting
	// Offline: not connected and not trying: after Detach or Logout
	// (until Unpause), or for good once Run has returned.
	Offline
)

var statusNames = [...]string{"", "connecting", "online", "suspended", "resuming", "reconnecting", "offline"}

func (s Status) String() string {
	if s > 0 && int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "unknown"
}

// Event is something the client reports: one of the client's own types
// (StatusChanged, Connected, Dead, Retrying, Sent, Woken) or an event of the
// current session passed on as it is (Received, Duplicate, Acked, Resent,
// Failed, Bounced, Presence, Warning and Skipped are the session's types
// under the names of this package). Switch on the concrete type.
type Event any

// StatusChanged reports a new Status. Err says why, when there is a reason
// (the error that ended the connection, or the one that stopped Run).
type StatusChanged struct {
	Status Status
	Err    error
}

// Connected reports a successful login: a resumed stream (Login.Resumed) or a
// fresh session.
type Connected struct {
	Login session.Login
	// Attempt counts the logins tried since the connection was lost (1 for
	// the first).
	Attempt int
}

// Dead reports that the connection was found dead.
type Dead struct {
	Err error
	// ByProbe is true when a liveness probe found it (on resume or idle),
	// false when a read or write failed.
	ByProbe bool
	// Took is how long the probe took, when ByProbe.
	Took time.Duration
}

// WakeAction says what the client did about a Wake.
type WakeAction int

// Actions taken on a Wake.
const (
	// WakeIgnored: nothing, because the client is paused or held (Detach,
	// Logout), or a login attempt that began after the suspension is
	// under way.
	WakeIgnored WakeAction = iota
	// WakeProbe: the connection is being probed (one already under way
	// counts).
	WakeProbe
	// WakeRetry: a login attempt was started at once (the wait before it
	// cut short, or a stale attempt started again). While waiting to retry,
	// a wake-up less than the probe timeout after the last attempt began
	// moves the retry to that moment instead, so that wake-ups in a burst
	// (a flapping network) start at most one login per probe timeout.
	WakeRetry
)

var wakeActionNames = [...]string{"ignored", "probe", "retry"}

func (a WakeAction) String() string {
	if a >= 0 && int(a) < len(wakeActionNames) {
		return wakeActionNames[a]
	}
	return "unknown"
}

// Woken reports a Wake: a possible suspension was noticed (Reason, as given
// to Wake) and what the client did about it.
type Woken struct {
	Reason string
	Action WakeAction
}

// Retrying reports a failed login attempt and the wait before the next.
type Retrying struct {
	Attempt int
	Delay   time.Duration
	Err     error
}

// Sent reports a message taken by Send: written to the stream, or queued
// (Queued) until the client is back online.
type Sent struct {
	Message session.Message
	Queued  bool
}

// The session's events, passed on by the client as they are.
type (
	// Received is an incoming chat message (session.Received). The server
	// is told the message was handled (XEP-0198) once OnEvent has returned
	// for it.
	Received = session.Received
	// Duplicate is an incoming message already handled once and not
	// delivered again (session.Duplicate).
	Duplicate = session.Duplicate
	// Acked reports stanzas the server acknowledged (session.Acked).
	Acked = session.Acked
	// Resent reports stanzas sent again by a new session (session.Resent).
	Resent = session.Resent
	// Failed reports a stanza whose delivery cannot be confirmed and that
	// is not sent again (session.Failed).
	Failed = session.Failed
	// Warning reports a weaker guarantee than usual (session.Warning).
	Warning = session.Warning
	// Bounced is an error reply to a message, tied to its id
	// (session.Bounced).
	Bounced = session.Bounced
	// Presence is an incoming presence (session.Presence): a contact
	// coming online or going offline, a subscription request.
	Presence = session.Presence
	// Skipped reports an incoming stanza that could not be read and was
	// skipped: acknowledged to the server, never delivered, the stream
	// kept (session.Skipped).
	Skipped = session.Skipped
)

// fromSession returns the session event to pass on, or nil for one the
// client does not report.
func fromSession(e session.Event) Event {
	switch e := e.(type) {
	case Received, Duplicate, Acked, Resent, Failed, Bounced, Presence, Warning, Skipped:
		return e
	case session.Sent:
		// The session reports a message when it takes it, before any
		// Acked for it: the order the client passes on.
		return Sent{Message: e.Message}
	}
	return nil
}

// dispatcher delivers events to one callback, in order, on its own goroutine,
// never under a lock of the client's, and never drops one: the queue grows
// instead.
type dispatcher struct {
	fn   func(Event)
	mu   sync.Mutex
	q    []queued
	wake chan struct{}
	stop chan struct{}
	done chan struct{}
}

type queued struct {
	ev      Event
	handled chan struct{}
}

// newDispatcher returns a dispatcher that queues events until start.
func newDispatcher(fn func(Event)) *dispatcher {
	return &dispatcher{fn: fn, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
}

// start starts delivering, what was queued first. Call it once.
func (d *dispatcher) start() { go d.run() }

func (d *dispatcher) push(q queued) {
	d.mu.Lock()
	d.q = append(d.q, q)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// emit queues ev and returns at once.
func (d *dispatcher) emit(ev Event) { d.push(queued{ev: ev}) }

// emitSync queues ev and returns once the callback has returned for it.
func (d *dispatcher) emitSync(ev Event) {
	h := make(chan struct{})
	d.push(queued{ev: ev, handled: h})
	select {
	case <-h:
	case <-d.done:
	}
}

func (d *dispatcher) run() {
	defer close(d.done)
	for {
		d.mu.Lock()
		batch := d.q
		d.q = nil
		d.mu.Unlock()
		for _, q := range batch {
			d.fn(q.ev)
			if q.handled != nil {
				close(q.handled)
			}
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-d.wake:
		case <-d.stop:
			d.mu.Lock()
			empty := len(d.q) == 0
			d.mu.Unlock()
			if empty {
				return
			}
		}
	}
}

// close delivers what is queued and stops. start must have been called.
func (d *dispatcher) close() {
	select {
	case <-d.stop:
	default:
		close(d.stop)
	}
	<-d.done
}
