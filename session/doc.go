// Package session is one XMPP client stream over one TCP connection, with
// XEP-0198 stream management: login, acknowledgements, resumption, and
// nothing lost or duplicated across a broken connection.
//
// It builds on mellium.im/xmpp for STARTTLS and SASL and replaces mellium's
// resource binding with its own feature, since mellium has no XEP-0198. It
// knows nothing of apps, backgrounds or retry loops: package reconnect
// decides when to call Connect again, package suspend when to Detach.
//
// # Sessions and state
//
// A Session lives as long as its TCP connection. What must outlive it is a
// State: the resumption id, the two counters, and the queue of stanzas the
// server has not acknowledged. Connect takes a State over and keeps it
// current; when the connection ends, the same State goes to the next Connect,
// which resumes the stream (<resume/>) or, if the server refuses or the
// stream is too old (the server's max), opens a fresh one. A State can be
// saved to a file (State.Save, LoadState) so that another process can resume.
//
//	st, _ := session.LoadState(path, "alice@example.org")
//	s, err := session.Connect(ctx, cfg, st)
//	…
//	<-s.Done()                    // the connection broke
//	s, err = session.Connect(ctx, cfg, st) // resumes: nothing lost
//
// # The rules this package keeps
//
// Only top-level message, presence and iq stanzas are counted, never nonzas
// or whitespace. The inbound count grows when a stanza is handled: when
// Config.OnEvent has returned for it. Counts are unsigned 32-bit and wrap;
// an <a/> acknowledging more than was sent ends the stream with
// undefined-condition. Every stanza sent after <enable/> is queued until
// acknowledged; an acknowledgement is requested after each stanza, with at
// most one <r/> outstanding.
//
// After <resumed h/>, the stanzas the server lacks are sent again in order
// before Connect returns, so nothing new can overtake them, then <r/>. After
// <failed h/>, what the server did get is dropped; the fresh session binds,
// enables stream management, sends its presence, and then sends the other
// messages again with a XEP-0203 delay and their original XEP-0359 origin-id
// (every message has one from the start) so that a receiver can drop a
// duplicate. An iq is never sent again blindly: it is reported as Failed.
//
// # Ending a session
//
// Detach closes the TCP connection after a last <a/> but without
// </stream:stream>, so the server keeps the stream for resumption: what an
// app does before it is suspended. Close ends the stream for good. Abort
// drops a connection already known to be dead. Probe tells a live connection
// from a dead one: <r/> answered by its own <a/> (a XEP-0199 ping without
// stream management), with ErrProbeTimeout for silence and a *ConnError for
// a broken socket.
//
// # Security
//
// TLS certificates are verified unless Config.TLS says otherwise; see
// TLSConfig. STARTTLS is always required, whether or not the server marks it
// <required/>: a server that does not offer it, answers <failure/>, or ends
// negotiation without verified TLS gets a *TLSError and nothing else, never
// a plaintext session (mellium alone would go on without TLS when an optional
// STARTTLS fails). Connect also checks that negotiation really authenticated
// and bound the stream before it sends anything (ErrLoginIncomplete). SASL tries SCRAM-SHA-256, then SCRAM-SHA-1, then PLAIN, and never
// authenticates without TLS. Passwords and resumption ids are never logged
// or put in errors.
package session
