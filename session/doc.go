// Package session is one XMPP client stream over one TCP connection, with
// XEP-0198 stream management: login, acknowledgements, resumption, and
// nothing lost or duplicated across a broken connection.
//
// It builds on mellium.im/xmpp for STARTTLS and SASL and replaces mellium's
// resource binding with its own feature, since mellium has no XEP-0198; the
// SASL2 login (negotiate2.go) is a negotiation step of its own. It
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
// # The modern login
//
// Where the server offers SASL2 (XEP-0388), Connect uses it instead of the
// classic SASL, bind and <resume/> (the features decide, never mellium's
// map order; Config.NoSASL2 turns it off): one <authenticate/> carries the
// SCRAM (or FAST) initial response, a Bind2 request (XEP-0386) with
// <enable/>, and <resume/> when the State is resumable; the <success/>
// carries the server's proof, the FAST token (XEP-0484) and <resumed/>, or
// <failed/> and the fresh session bound by the same request. The State
// remembers what the server offered, the user-agent id and the newest
// token, so that the next login sends the stream header and
// <authenticate/> in one flight, with the token (HT-SHA-256-EXPR, bound to
// the TLS connection by tls-exporter, else -NONE). A refused token makes
// Connect try once more with the password; a server whose offer changed
// (no SASL2 any more, another mechanism), once more after its features. The server's proof (SCRAM's server
// signature, FAST's additional-data) and XEP-0474's downgrade hash are
// checked before anything the <success/> says is applied.
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
// # Silent deaths: the ack timeout
//
// A connection can die without a reset: a NAT or a carrier forgets the flow
// and drops everything. Writes still succeed (into the kernel's buffer), and
// the kernel retransmits for many minutes before it gives up. The session
// finds out from its own traffic: when stanzas were written and no <a/>
// answers for Config.AckTimeout (DefaultAckTimeout, 10 s), the session ends
// with ErrAckTimeout (in a *ConnError) and the stanzas stay in the State, to
// be resent by the next session. Without stream management a XEP-0199 ping
// follows what is sent, with the same rule. An idle connection is never
// pinged by this: it costs nothing until something is sent. A process that
// was stopped (SIGSTOP, a frozen VM) past the deadline gets 2 s more when it
// runs again, to read the <a/> that may be waiting in the socket buffer.
//
// The default dialer (Config.Dialer) sets two socket options. On Linux,
// TCP_USER_TIMEOUT (DefaultTCPUserTimeout, 30 s, three ack timeouts) makes
// the kernel fail a connection whose written data stays unacknowledged,
// the backstop for what nothing waits for. The TCP keepalive comes after
// DefaultKeepAlive (10 minutes) of silence rather than Go's 15 s: package
// reconnect's idle probe checks the whole stream every 5 minutes, and each
// keepalive would wake a phone's radio for nothing more (see reconnect's
// "What an idle client sends").
//
// # Ending a session
//
// Detach closes the TCP connection after a last <a/> but without
// </stream:stream>, so the server keeps the stream for resumption: what an
// app does before it is suspended. Close ends the stream for good, after a
// last <a/> that counts every incoming stanza handled (the server re-routes
// what it sent and was not acknowledged, to offline storage or back to the
// sender; without that <a/> a message the application got would come again
// in the next session); a stanza read after that count is neither delivered
// nor counted, as the server re-routes it. Abort
// drops a connection already known to be dead. Probe tells a live connection
// from a dead one: <r/> answered by its own <a/> (a XEP-0199 ping without
// stream management), with ErrProbeTimeout for silence and a *ConnError for
// a broken socket.
//
// # Goroutines and locks
//
// A Session runs two goroutines of its own from Connect until Done is
// closed:
//
//   - the read loop reads the stream and handles every element: it answers
//     server pings, processes <a/>, routes iq replies, and queues incoming
//     messages and presences for the application. Stream features that
//     come after a SASL2 resumption (Prosody) are skipped. A stanza it
//     cannot take
//     (nested deeper than MaxStanzaDepth, larger than Config.MaxStanzaBytes)
//     is dropped and queued the same way as a Skipped event, so that it is
//     counted in order like any other. It never waits for the
//     application (except when 256 incoming stanzas are already queued:
//     then TCP's flow control makes the server wait) nor for a sender's
//     Config.Persist; it saves the State itself after an <a/>.
//   - the event goroutine calls Config.OnEvent, one event at a time, in the
//     order the session produced them, whichever goroutine produced them.
//     An event is queued at the moment the change it reports is made, so
//     Resent always comes before the Acked for the same stanzas. An incoming
//     stanza is counted for XEP-0198 (and remembered for de-duplication)
//     once OnEvent has returned for it, and an <r/> from the server is
//     answered once every stanza before it has been handled: h never claims
//     a stanza the application has not had. A Sent is queued when its
//     message joins the queue but delivered only once Config.Persist has
//     saved the copy that holds it (a program killed after seeing Sent
//     finds the message on disk); while it waits for that save, the event
//     goroutine still answers the <r/>s queued behind it that need no
//     stanza still waiting. Close takes its last count there too, in
//     order; from then on incoming stanzas and <r/>s are dropped.
//
// Two short-lived helpers run besides: the ack timer (a time.AfterFunc,
// while stanzas wait for an <a/>; it ends the session when it fires, or
// re-arms itself for 2 s when it fired late because the process was not
// running, and does nothing else), and, without stream management, a
// goroutine that pings the server after stanzas were sent and ends with the
// ping or the session. The ping's wait is a deadline of the same kind, by
// the same rule: when it fires in time the ping has failed and the session
// ends; fired late, it gives the answer 2 s more to be read.
// During Connect without Config.Addr, two more look up the DNS SRV
// records; Connect waits for both (for at most a third of the login
// timeout; a resolver must return when its context ends) before it dials.
//
// Done is closed after the read loop has ended and the last event was
// delivered: whoever waits for Done has seen every event of the session and
// may hand the State to the next Connect.
//
// All methods are safe for concurrent use. Inside the session, three locks
// order the work, always taken in this order: the stanza lock (held from
// the moment a stanza joins the unacknowledged queue until it is written, so
// that queue order is wire order; Config.Persist runs under it, so a copy on
// disk has every stanza the server may have), the write lock (held only
// while bytes are written; the read loop takes it to answer the server, and
// it is never held across a disk write), and the state mutex. Config.Persist
// calls are serialised and in order; a Persist that panics ends the
// session (*PersistError) on whatever goroutine it ran, and one that never
// returns stalls it (see Config.Persist). The ack timer and the ping's
// deadline each have a small lock of their own, taken after the state
// mutex, never before it, and released before they end the session.
//
// From inside OnEvent the application may call SendMessage, SetActive,
// Probe, WaitAcked, State, Err and the other accessors: none of them waits
// for the event goroutine. It must not call Abort, Detach or Close there:
// they wait for Done, which waits for OnEvent to return, so they would
// deadlock; nor Ping, which waits for the events queued before its answer.
// Call them from another goroutine (go s.Detach()).
//
// SendMessage, WaitAcked and Probe respect their context while they wait;
// a write, once started, is bounded by Config.WriteTimeout instead.
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
// authenticates without TLS; SASL2 prefers their -PLUS forms (tls-exporter
// channel binding, TLS 1.3) where offered. Once SCRAM or a FAST token has
// worked, PLAIN is never used for the account again (State.NoPLAIN,
// XEP-0474's pinning); once a server proved its SASL2 offer with XEP-0474's
// hash, a login without it, or without SASL2, is refused (State.SSDP).
// Passwords, FAST tokens and
// resumption ids are never logged or put in errors.
//
// What the server sends is bounded below the XML decoder, as it arrives: a
// stanza nested deeper than MaxStanzaDepth or larger than
// Config.MaxStanzaBytes is dropped as it streams (never buffered whole),
// reported as Skipped and counted as handled, so that a stanza another user
// crafted can neither end the connection nor come back on every resumption.
// Comments, processing instructions and DTDs end the stream with
// <restricted-xml/>. No entity is expanded.
package session
