// Package faultproxy is an in-process TCP proxy that breaks the network path
// on demand, for tests and demos: it adds latency, silently drops data (a
// blackhole), tears connections with a TCP RST, and makes the server
// unreachable and reachable again on the same address.
//
// A [Proxy] listens on 127.0.0.1 and forwards every accepted connection to one
// upstream address. Latency and the blackhole are toxics of
// github.com/Shopify/toxiproxy/v2 (v2.12.0), used as a library: no toxiproxy
// server process and no HTTP API. Toxiproxy's own logging is silenced.
// The client-facing socket belongs to this package, not to toxiproxy,
// because toxiproxy does not let its caller reach the accepted connections:
//
//	client ──► faultproxy front (Addr) ──► toxiproxy proxy ──► upstream
//	           accept count, RST,          latency, timeout
//	           Down/Up                     (blackhole) toxics
//
// That front is what implements [Proxy.Conns], [Proxy.ResetPeer],
// [Proxy.Down] and [Proxy.Up]; each method's comment says what toxiproxy does
// and why plain net code was needed where it was.
//
// The package lives under internal/ and is a test and demo helper: library
// packages (session, reconnect, suspend) must not import it.
package faultproxy
