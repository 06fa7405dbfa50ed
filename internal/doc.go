// Package internal holds what the xmppbg binary ships beyond the library,
// kept apart from scaffolding only the tests use. Library packages
// (session, reconnect, suspend) import none of it.
//
// # Shipped (linked into cmd/xmppbg)
//
//   - driver: the app layer the commands share (a reconnect.Client and a
//     suspend.App behind one event stream).
//   - scenario: the scenario language and runner of `xmppbg demo`.
//   - prosody: starts the throwaway local Prosody of `xmppbg server` and
//     `xmppbg demo`.
//   - serverproc: process and readiness helpers for the server harnesses.
//   - faultproxy: a plain-net TCP proxy whose RST, BlackholeLive and
//     Down/Up break the path in the bundled scenarios.
//   - proc: stops a process with SIGSTOP and returns once it really is
//     stopped (the scenarios' freeze, and the tests that freeze a client).
//
// # Test-only (imported by _test.go files and each other, never shipped)
//
//   - integration: the server harnesses (Prosody, ejabberd) and Each, which
//     runs one integration suite against every server; the XMPPBG_TEST_*
//     environment variables that attach the tests to a running Prosody.
//   - toxic: faultproxy plus toxiproxy's latency and blackhole toxics.
//   - netlab: kernel-level faults: a private network namespace for a test
//     and nftables rules that drop or reset its established flows.
//   - ejabberd: starts a throwaway ejabberd.
//   - bench, soak: benchmarks and the soak test.
//   - leakcheck: the TestMain that fails a package's tests when its
//     goroutines outlive them.
//   - echotest: a loopback TCP echo server and helpers for the proxy tests.
//   - golden: golden-file comparison for the renderers' tests (-update).
//
// Heavy test-only dependencies (toxiproxy with Prometheus, zerolog,
// gorilla/mux and protobuf) and package testing stay out of the binary.
// TestTiers (tiers_test.go) enforces the tiers with go list: what
// cmd/xmppbg links, that library packages import no internal package or
// command, and that no shipped package imports a test-only one. A new
// package must be placed in a tier there.
package internal
