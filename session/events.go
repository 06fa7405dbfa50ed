package session

// Event is something that happened on a session, delivered to Config.OnEvent.
// The concrete types are Received, Duplicate, Presence, Skipped, Sent, Acked,
// Resent, Failed, Bounced and Warning.
type Event interface{ isEvent() }

// Received is an incoming chat message.
type Received struct {
	Message Message
}

// Duplicate is an incoming message already handled once (see State.Seen,
// and State.ArchiveLive for archive results): it is counted for XEP-0198
// but not delivered as Received.
type Duplicate struct {
	Message Message
}

// Presence is an incoming presence.
type Presence struct {
	From string
	// Type is empty for available, else "unavailable", "subscribe", …
	Type string
}

// Skipped reports an incoming stanza the session dropped whole because it
// could not take it: nested deeper than MaxStanzaDepth, or larger than
// Config.MaxStanzaBytes. Such a stanza is counted for XEP-0198 like one that
// was handled, so the server drops it rather than sending it again on every
// resumption, and the stream goes on. A stanza anyone can send through the
// server (a message from another user) must never be a connection fault.
// Only its kind and the id and from of its top-level element are known
// (clipped to 256 bytes); an iq request among them was answered with an
// error. A nonza skipped the same way (Kind is its name) is reported but not
// counted.
type Skipped struct {
	// Kind is "message", "presence" or "iq".
	Kind   string
	ID     string
	From   string
	Reason SkipReason
}

// SkipReason says why a stanza was Skipped.
type SkipReason int

// Why a stanza was skipped.
const (
	// SkipTooDeep: nested deeper than MaxStanzaDepth.
	SkipTooDeep SkipReason = iota + 1
	// SkipTooLarge: larger than Config.MaxStanzaBytes, as received.
	SkipTooLarge
)

// String explains r to a person.
func (r SkipReason) String() string {
	switch r {
	case SkipTooDeep:
		return "nested too deep"
	case SkipTooLarge:
		return "too large"
	}
	return "unknown reason"
}

// Sent reports a message SendMessage took: with stream management it is in
// the State from now on (and in the copy Config.Persist saved, which comes
// first), and comes before any Acked for it; without, it was written.
type Sent struct {
	Message Message
}

// Ref names an outbound stanza.
type Ref struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
	To   string `json:"to,omitempty"`
}

// Acked reports stanzas the server acknowledged (XEP-0198): it has them, and
// they are no longer kept for resending.
type Acked struct {
	Stanzas []Ref
}

// Resent reports stanzas sent again when a session started: after a
// resumption, those the server had not received, as they were; after a fresh
// session replaced one that could not be resumed, the messages whose delivery
// was unconfirmed, with a XEP-0203 delay and their original origin-id
// (Delayed is true).
type Resent struct {
	Stanzas []Ref
	Delayed bool
}

// Failed reports a stanza whose delivery cannot be confirmed and that is not
// sent again: after a failed resumption, every unconfirmed stanza that is not
// a message (an iq is never resent blindly); and a message to resend that is
// larger than the bound (State.SendBound; taken before it, from a state
// file), which the server would close the connection on.
type Failed struct {
	Stanza Ref
	Reason string
}

// Bounced is an error reply to a message: an incoming message of type
// "error" (RFC 6120 §8.3), sent back by the sender's server, the
// recipient's server or the recipient, which could not deliver or accept the
// message. RFC 6120 §8.3.1 has an error reply carry the id of the stanza it
// answers, so ID ties it to a message this client sent (SendMessage's
// Message.ID). It comes after the message's Acked when the server bounces a
// message it has received (an unknown local user): an acknowledgement says
// the server has a stanza, not that it could deliver it. RFC 6121 lets a
// server drop a message silently instead, so the absence of a Bounced proves
// nothing. Like any incoming stanza it is counted for XEP-0198 once
// delivered; it is never a Received.
type Bounced struct {
	// ID is the id of the message it answers.
	ID string
	// From is who bounced it: usually the recipient's JID (the server
	// answers on its behalf) or a server's domain.
	From string
	// Condition is the RFC 6120 stanza error condition, e.g.
	// "service-unavailable", "item-not-found" or "remote-server-not-found";
	// "undefined-condition" when the reply names none.
	Condition string
	// Text is the human-readable text of the error, if any (server text:
	// sanitize it before printing it on a terminal).
	Text string
}

// Warning reports a weaker guarantee than usual, e.g. a server without
// stream management or a failed resumption that did not say what it received.
type Warning struct {
	Text string
}

func (Received) isEvent()  {}
func (Presence) isEvent()  {}
func (Duplicate) isEvent() {}
func (Skipped) isEvent()   {}
func (Sent) isEvent()      {}
func (Acked) isEvent()     {}
func (Resent) isEvent()    {}
func (Failed) isEvent()    {}
func (Bounced) isEvent()   {}
func (Warning) isEvent()   {}

func refOf(s Stanza) Ref { return Ref{Kind: s.Kind, ID: s.ID, To: s.To} }

func refs(in []Stanza) []Ref {
	out := make([]Ref, len(in))
	for i, s := range in {
		out[i] = refOf(s)
	}
	return out
}

// ResumeSkip says why Connect tried no resumption although there was an
// earlier stream (Login.ResumeSkipped).
type ResumeSkip int

// Why a resumption was skipped.
const (
	// ResumeNotSkipped: a resumption was tried, or there was nothing to
	// resume.
	ResumeNotSkipped ResumeSkip = iota
	// ResumeSkipExpired: the server's maximum resumption time (max of
	// <enabled/>) had passed.
	ResumeSkipExpired
	// ResumeSkipNoSM: stream management is off for this connection.
	ResumeSkipNoSM
)

var resumeSkipText = [...]string{"", "the server's maximum resumption time has passed", "stream management is off"}

// String explains r to a person; "" for ResumeNotSkipped.
func (r ResumeSkip) String() string {
	if r >= 0 && int(r) < len(resumeSkipText) {
		return resumeSkipText[r]
	}
	return "unknown reason"
}
