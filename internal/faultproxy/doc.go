// Package faultproxy is an in-process TCP proxy that breaks the network path
// on demand, in plain net code: it tears connections with a TCP RST, silently
// drops the live connections while new ones pass (a NAT that lost its
// mapping), and makes the server unreachable and reachable again on the same
// address. It ships in
// the xmppbg binary: the bundled demo scenarios (internal/scenario) take the
// server Down and Up through it.
//
// A [Proxy] listens on 127.0.0.1 and forwards every accepted connection to
// one upstream address with two io.Copy loops, one per direction:
//
//	client ──► faultproxy (Addr) ──► upstream
//	           accept count, RST, BlackholeLive, Down/Up
//
// Faults that need to shape the bytes in flight (latency, a blackhole that
// also swallows new connections, bandwidth) are test-only: package internal/toxic puts a toxiproxy proxy
// behind this one, so that heavy dependency never reaches the binary.
//
// Library packages (session, reconnect, suspend) must not import it.
package faultproxy
