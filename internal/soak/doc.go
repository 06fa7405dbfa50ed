// Package soak is the chaos soak: two supervised clients exchange numbered
// messages both ways through a real Prosody while a random schedule injects
// every fault the library is built to survive, and a ledger checks at the end
// that every message arrived exactly once, in order where XMPP promises
// order.
//
// The test (TestSoak) runs a short soak under a plain `go test ./...` (at
// least 50 fault cycles) and a long one on demand:
//
//	XMPPBG_SOAK_CYCLES=1000 go test -v -count=1 -timeout 60m -run TestSoak ./internal/soak
//
// XMPPBG_SOAK_SEED replays a schedule (the seed is printed at the start);
// XMPPBG_SOAK_OUT names a file for the Markdown summary. See BENCHMARKS.md for
// what is checked and the published run.
//
// The Ledger is in this package's non-test code so that its rules have their
// own unit tests.
package soak
