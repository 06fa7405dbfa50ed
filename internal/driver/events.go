package driver

import (
	"fmt"
	"time"

	"github.com/xmppbg/xmppbg/reconnect"
	"github.com/xmppbg/xmppbg/session"
	"github.com/xmppbg/xmppbg/suspend"
)

// Event is one thing that happened to the account, as a typed value. The
// concrete types are StateChanged, Resumed, Received, Duplicate, Sent,
// Acked, Resent, Bounced, Contact, Dead, Retrying, Woke, Lifecycle, Warning
// and Undelivered. They
// carry facts, not prose: the renderers (the chat command's text and JSON,
// the scenario's timeline) decide how to show them.
type Event interface {
	// Time is when it happened.
	Time() time.Time
	isEvent()
}

// Stamp is when an event happened; every event embeds it.
type Stamp struct {
	At time.Time
}

// Time returns At.
func (s Stamp) Time() time.Time { return s.At }

func (Stamp) isEvent() {}

// now stamps an event with the current time.
func now() Stamp { return Stamp{At: time.Now()} }

// State is the state of the account as the user sees it: the connection's
// (package reconnect), or the app's when it is in the background or
// suspended (package suspend).
type State int

// States, in the order an account usually meets them.
const (
	// Connecting: the first login is under way.
	Connecting State = iota + 1
	// Online: a session is up.
	Online
	// Background: the app is in the background, its task window running.
	Background
	// Suspended: the app is suspended and runs no code.
	Suspended
	// Resuming: back from a suspension, probing the connection.
	Resuming
	// Reconnecting: the connection was lost; logging in again.
	Reconnecting
	// Offline: not connected and not trying.
	Offline
)

var stateNames = [...]string{"", "connecting", "online", "background", "suspended", "resuming", "reconnecting", "offline"}

// String returns the state's name, as the JSON "state" field has it.
func (s State) String() string {
	if s > 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

// ClientState returns the State of a connection status.
func ClientState(s reconnect.Status) State {
	switch s {
	case reconnect.Connecting:
		return Connecting
	case reconnect.Online:
		return Online
	case reconnect.Suspended:
		return Suspended
	case reconnect.Resuming:
		return Resuming
	case reconnect.Reconnecting:
		return Reconnecting
	case reconnect.Offline:
		return Offline
	}
	return 0
}

// StateChanged reports a new State.
type StateChanged struct {
	Stamp
	State State
	// Fresh marks the Online state of a fresh session that replaced a
	// stream that could not be resumed.
	Fresh bool
	// SinceResume is, for Online after Resume, the time since Resume.
	SinceResume time.Duration
	// Err says why, when there is a reason (the error that ended the
	// connection, or the one that stopped the client).
	Err error
}

// Resumed reports a stream resumed with XEP-0198.
type Resumed struct {
	Stamp
	// Login is how long the login took.
	Login time.Duration
	// Attempt counts the logins tried since the connection was lost.
	Attempt int
}

// Received is an incoming chat message.
type Received struct {
	Stamp
	Message session.Message
}

// Duplicate is an incoming message already delivered once, dropped.
type Duplicate struct {
	Stamp
	Message session.Message
}

// Sent is a message taken by Send: written to the stream, or held
// (Queued) until the client is online.
type Sent struct {
	Stamp
	Message session.Message
	Queued  bool
}

// Acked lists the messages the server acknowledged, by stanza id (never
// empty).
type Acked struct {
	Stamp
	IDs []string
}

// Resent lists the messages a new session sent again, by stanza id (never
// empty). Delayed marks those of a fresh session, sent with a delay stamp.
type Resent struct {
	Stamp
	IDs     []string
	Delayed bool
}

// Bounced is an error reply to a message, tied to it by ID: the message
// was not delivered (see session.Bounced).
type Bounced struct {
	Stamp
	session.Bounced
}

// String describes it on one line.
func (b Bounced) String() string {
	s := "message " + b.ID + " bounced"
	if b.From != "" {
		s += " by " + b.From
	}
	s += ": " + b.Condition
	if b.Text != "" {
		s += " (" + b.Text + ")"
	}
	return s
}

// Contact reports a contact coming online or going offline: an available
// or unavailable presence from another account (the server sends them for
// the contacts whose presence the account is subscribed to). Other
// presences (subscription requests, errors, the account's own resources)
// are not reported.
type Contact struct {
	Stamp
	// JID is the contact's full JID, as the presence came.
	JID    string
	Online bool
}

// Dead reports that the connection was found dead.
type Dead struct {
	Stamp
	Err error
	// ByProbe is true when a liveness probe found it; Took is then how
	// long the probe waited.
	ByProbe bool
	Took    time.Duration
}

// Retrying reports a failed login attempt and the wait before the next.
type Retrying struct {
	Stamp
	Attempt int
	Delay   time.Duration
	Err     error
}

// Lifecycle reports a step of the simulated app that is not a change of
// State: Step is a suspend.WindowExpired, suspend.PolicyRan or
// suspend.FaultInjected.
type Lifecycle struct {
	Stamp
	Step suspend.Event
}

// String describes the step on one line.
func (l Lifecycle) String() string {
	switch s := l.Step.(type) {
	case suspend.WindowExpired:
		return fmt.Sprintf("background window of %v expired", s.Window)
	case suspend.PolicyRan:
		text := "policy " + s.Policy.String() + " ran"
		if s.Err != nil {
			text += ": " + s.Err.Error()
		}
		return text
	case suspend.FaultInjected:
		return "socket " + faultText(s.Fault)
	}
	return fmt.Sprintf("%T", l.Step)
}

func faultText(f suspend.Fault) string {
	switch f {
	case suspend.FaultRST:
		return "torn by RST"
	case suspend.FaultBlackhole:
		return "black-holed"
	case suspend.FaultReclaim:
		return "reclaimed by the OS"
	}
	return f.String()
}

// WarningReason says which weaker guarantee a Warning reports.
type WarningReason int

// Reasons of warnings.
const (
	// WarnSession: the session reported it (session.Warning); Detail is
	// the session's text.
	WarnSession WarningReason = iota
	// WarnStateFile: the state file could not be used (Err); a fresh
	// session starts with the messages it held.
	WarnStateFile
	// WarnResumeFailed: the server refused to resume the stream (Err, a
	// *session.ResumeFailedError); a fresh session replaced it.
	WarnResumeFailed
	// WarnResumeSkipped: no resumption was tried (Skip says why; Detail is
	// session.Login.ResumeSkipped); a fresh session replaced the stream.
	WarnResumeSkipped
	// WarnStanzaSkipped: an incoming stanza could not be read (Stanza says
	// which and why) and was skipped: acknowledged to the server, never
	// delivered, the stream kept.
	WarnStanzaSkipped
)

var warningNames = [...]string{"session", "state-file", "resume-failed", "resume-skipped", "stanza-skipped"}

// String names the reason.
func (r WarningReason) String() string {
	if r >= 0 && int(r) < len(warningNames) {
		return warningNames[r]
	}
	return "unknown"
}

// Warning reports a weaker guarantee than usual.
type Warning struct {
	Stamp
	Reason WarningReason
	// Err is the error behind it, for WarnStateFile and WarnResumeFailed.
	Err error
	// Skip says why no resumption was tried, for WarnResumeSkipped.
	Skip session.ResumeSkip
	// Detail is the library's description, for WarnSession and
	// WarnResumeSkipped.
	Detail string
	// Stanza is the stanza skipped, for WarnStanzaSkipped.
	Stanza session.Skipped
}

// String describes the warning on one line.
func (w Warning) String() string {
	switch w.Reason {
	case WarnStateFile:
		return "state file: " + errText(w.Err) + "; starting a fresh session with the messages it held"
	case WarnResumeFailed:
		return errText(w.Err) + "; opened a fresh session"
	case WarnResumeSkipped:
		return "resumption skipped: " + w.Detail + "; opened a fresh session"
	case WarnStanzaSkipped:
		s := w.Stanza
		return "skipped an incoming " + s.Kind + " (id " + s.ID + ") from " + s.From + ": " + s.Reason.String() + "; it was acknowledged and not delivered"
	}
	return w.Detail
}

// Undelivered reports a stanza whose delivery cannot be confirmed and that
// is not sent again (see session.Failed).
type Undelivered struct {
	Stamp
	Stanza session.Ref
	Reason string
}

// String describes it on one line.
func (u Undelivered) String() string {
	return u.Stanza.Kind + " " + u.Stanza.ID + " not delivered: " + u.Reason
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// messageIDs returns the ids of the messages among refs.
func messageIDs(refs []session.Ref) []string {
	var ids []string
	for _, r := range refs {
		if r.Kind == "message" {
			ids = append(ids, r.ID)
		}
	}
	return ids
}
