// Package reconnect supervises an XMPP session over time: it dials, logs in,
// watches the stream, and repairs it when it breaks, preferring XEP-0198
// stream resumption and falling back to a fresh session, with jittered
// exponential backoff between attempts.
//
// # What it owns
//
// Deciding when a connection is dead (read or write errors, idle and
// on-resume liveness probes), deciding between resumption and a fresh
// session, the retry schedule, a bounded queue for messages sent while
// offline, and the typed events that report all of this.
//
// # What it must not do
//
// It never parses XML: everything on the wire is package session's.
//
// # Suspensions nobody announces
//
// Pause and Unpause frame a suspension the application knows about. A real
// one is often not announced: the OS stops the process and continues it,
// the machine sleeps. Wake is the way to say "a suspension may have
// happened" (suspend.Detector notices one by itself): the connection is
// probed at once and repaired if dead, exactly as after Unpause, and a
// Woken event says what was noticed and what was done.
//
// # What an idle client sends
//
// A healthy client with nothing to say costs a phone one radio wake-up every
// DefaultIdleProbe (5 minutes, the longest ping interval of Conversations): an
// <r/> answered by an <a/>, a few dozen bytes each way. Nothing else goes out:
// the session's TCP keepalive (session.DefaultKeepAlive, 10 minutes of
// silence) is always reset by the probe before it fires, the ack timeout
// (session.DefaultAckTimeout) only watches stanzas actually sent, and a
// suspension detector (suspend.Detector) reads clocks and sends nothing. A
// Wake adds one probe, only when a suspension was noticed. Go's default of
// a TCP keepalive every 15 s is not used: four radio wake-ups a minute to
// learn less than the probe does.
//
// # Goroutines and locks
//
// Run's goroutine owns the loop: the current session, the attempt under
// way, the timers, the pause. Everything else reaches it as a command on a
// channel (Pause, Unpause, Detach, Logout, SetActive, Probe, Wake) and waits
// for its answer (Probe: for the result of the probe the loop starts or
// joins), or reads a snapshot under the client's mutex (Status, Queued,
// SessionInfo). A login attempt and a probe each run on a goroutine of
// their own whose result the loop receives; a cancelled attempt is waited
// for before the next one starts, so an error from an old connection never
// touches the new one.
//
// Events are delivered by one dispatcher goroutine, created by New and
// started by Run, in the order they were produced, never under a lock of the
// client's, and never dropped (an event produced before Run waits for it).
// The session's own events arrive from the session's event goroutine and are
// passed on as they are: a session.Sent comes before its Acked. A Received
// is handed over synchronously, so the server counts the message as handled
// only once Config.OnEvent has returned for it.
//
// Send takes a second mutex, which orders it against the flush of the
// offline queue after a login: queued messages go out first, in order.
//
// Config.OnEvent may call Send, Status, Queued and SessionInfo. It must not
// call Pause, Unpause, Detach, Logout, SetActive, Probe or Wake and wait for
// them: a lifecycle command may wait for the session to end, and a session
// ends only once the event being delivered has been handled.
package reconnect
