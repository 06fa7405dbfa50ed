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
package reconnect
