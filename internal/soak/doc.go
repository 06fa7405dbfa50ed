// Package soak is the chaos soak: two clients exchange numbered messages both
// ways through a real server while a random schedule injects every fault the
// library and the command are built to survive, and a ledger checks at the
// end that every message arrived exactly once, in order where XMPP promises
// order.
//
// # The parties
//
//   - alice is a reconnect.Client inside simulated apps (package suspend), in
//     the test process: her connection is reset, reclaimed or black-holed
//     while active or suspended, under each background policy, for less or
//     more than the server's resumption time.
//   - bob is the real `xmppbg chat --json --state-file FILE` process, reaching
//     the server through an external proxy (internal/toxic) that the process
//     knows only as its --addr. He is killed with SIGKILL at random moments
//     (while sending, while logging in again, while suspended, with messages
//     queued offline) and a new process is started on the same state file;
//     he is frozen with SIGSTOP and continued with SIGCONT, alone or while
//     his path is reset or black-holed; his path is reset, his live
//     connection black-holed while new ones pass (a NAT that lost the
//     flow), or the server made unreachable, while he runs.
//   - mallory sends hostile stanzas (issue 11) to alice or bob through the
//     server mid-run: a message nested 10,001 deep, one nested 300 deep (just
//     past session.MaxStanzaDepth), a body of 250 KB of apostrophes (Prosody
//     sends each as &apos;: 1.5 MB, over alice's 1 MiB cap, under bob's
//     default).
//   - The server is restarted with SIGTERM and with SIGKILL.
//
// The soak runs on every server of integration.Harnesses, so that a server
// added there joins it.
//
// # The ledger
//
// Every numbered message must be delivered exactly once. bob's lines count
// as sent once the process reports them ("sent": the message is in the state
// file); a line typed into a process killed before it reported it is in
// doubt and may arrive once or never, never twice; one found in the state
// file the killed process left is sent (the next process sends it). The
// chat process prints a message and then saves that it handled it: the last
// message a killed process printed may come again, with the same id, from
// the next one; that is counted apart (at most one per kill), any other
// second delivery is a duplicate. Messages the server had
// acknowledged before a SIGKILL of the server and held only in its memory
// are counted apart (lost by server crash). Hostile stanzas are counted
// apart too: each must be reported skipped by its receiver (a Skipped event,
// a "skipped" JSON event) or delivered intact, exactly once, never swallowed
// silently; a stanza the server does not relay (integration.Caps) is not
// sent. The Ledger is in this package's non-test code so that these rules
// have their own unit tests, which show that a lost and a duplicated message
// fail it.
//
// # Running it
//
// A plain `go test ./internal/soak` (and so the CI run) runs every kind of
// cycle once per server. On demand, a long run spread over the servers:
//
//	XMPPBG_SOAK_CYCLES=1000 nice -n 10 go test -v -count=1 -timeout 120m -run TestSoak ./internal/soak
//
// XMPPBG_SOAK_CYCLES (or -args -soak.cycles=N) is the number of cycles in
// all, divided evenly among the servers. XMPPBG_SOAK_SEED (or -soak.seed)
// replays a schedule: the seed is printed at the start and again, with the
// command, when a server's run fails. XMPPBG_SOAK_OUT names a file for the
// Markdown report. BENCHMARKS.md has the published run and what it checks.
package soak
