// Package bench holds the benchmarks whose figures BENCHMARKS.md publishes:
// recovery (XEP-0198 resumption against a full login), detection of a dead
// socket after a suspension, throughput with and without stream management,
// memory per idle session, and a reconnect storm. All run against a real,
// throwaway Prosody (package internal/prosody) on 127.0.0.1; recovery runs
// on each of the four servers of internal/integration (XMPPBG_TEST_SERVERS
// selects some).
//
// # Running
//
// Go benchmarks (they never run without -bench):
//
//	go test -run '^$' -bench . -benchtime 200x ./internal/bench
//
// The report (Markdown tables, medians and p99 from per-cycle samples) is a
// test that skips, saying so, unless XMPPBG_BENCH names the sections to run:
//
//	XMPPBG_BENCH=all go test -v -count=1 -timeout 60m -run TestReport ./internal/bench
//
// See BENCHMARKS.md at the module root for every knob and the figures.
//
// # Round trips
//
// A round trip is counted from the wire, by WireMeter: each time a Read of the
// client's connection returns data after the client has written something
// since the previous Read that returned data. That is, each time the client
// wrote and then waited for (and got) an answer. Data the server sends on its
// own without the client having written is not a round trip; writes the
// client makes without waiting for anything (the initial presence, a
// resend) are not either. The TCP handshake happens in Dial, below the meter:
// it is reported separately as one more round trip.
//
// The helpers in this package are test infrastructure, like the rest of
// internal/: library packages must not import it.
package bench
