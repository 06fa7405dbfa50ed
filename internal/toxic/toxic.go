// Package toxic is a fault-injecting TCP proxy for tests: everything
// package faultproxy does (RST, Down/Up, a connection count) plus faults
// that shape the bytes in flight, latency and a silent blackhole, which are
// toxics of github.com/Shopify/toxiproxy/v2 (v2.12.0) used as a library (no
// toxiproxy server process, no HTTP API). Toxiproxy's zerolog output is
// silenced.
//
// It is test-only: only _test.go files and other test-only packages
// (internal/bench, internal/soak) import it, so toxiproxy and what it pulls
// in (Prometheus, zerolog, gorilla/mux, protobuf) never reach the xmppbg
// binary. internal/tiers_test.go enforces that.
//
// A faultproxy.Proxy stays in front, because toxiproxy does not let its
// caller reach the accepted connections (to count them, tear them with a
// RST, or refuse new ones):
//
//	client ──► faultproxy (Addr) ──► toxiproxy proxy ──► upstream
//	           accept count, RST,    latency, timeout
//	           Down/Up               (blackhole) toxics
package toxic

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"

	"github.com/xmppbg/xmppbg/internal/faultproxy"
)

// ErrClosed is returned by the methods of a Proxy after Close; it is
// faultproxy's, so one errors.Is check covers both.
var ErrClosed = faultproxy.ErrClosed

// Toxic names, one per direction. Upstream is client → server, downstream is
// server → client.
const (
	latencyUp     = "latency_upstream"
	latencyDown   = "latency_downstream"
	blackholeUp   = "blackhole_upstream"
	blackholeDown = "blackhole_downstream"
)

// Proxy forwards 127.0.0.1:random to an upstream address and can break the
// path. The faultproxy methods (Addr, Conns, ResetPeer, BlackholeLive, Down,
// Up) work as documented there; Latency and Blackhole also apply to every connection
// accepted later, until Clear.
//
// All methods are safe for concurrent use.
type Proxy struct {
	*faultproxy.Proxy
	upstream string
	tp       *toxiproxy.Proxy
	logCtx   context.Context // carries a discarding zerolog logger
	closed   atomic.Bool

	toxMu sync.Mutex // serialises toxic changes (remove + add must be atomic)
}

// Start starts a proxy to upstream and returns once it accepts connections.
// It listens on 127.0.0.1 on a free port; see Addr.
//
// The upstream is dialled once per accepted client, not by Start: if it is not
// reachable, clients are accepted (and counted by Conns) and then closed.
func Start(upstream string) (*Proxy, error) {
	// zerolog.Nop has level Disabled: nothing is written whatever the global
	// level. Toxiproxy derives every proxy and link logger from this one.
	server := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	tp := toxiproxy.NewProxy(server, "toxic", "127.0.0.1:0", upstream)
	if err := tp.Start(); err != nil {
		return nil, fmt.Errorf("toxic: start toxiproxy: %w", err)
	}
	front, err := faultproxy.Start(tp.Listen) // tp.Listen is the bound address after Start
	if err != nil {
		tp.Stop()
		return nil, err
	}
	return &Proxy{
		Proxy:    front,
		upstream: upstream,
		tp:       tp,
		// Removing toxics logs through zerolog.Ctx(ctx), which falls back to
		// zerolog.DefaultContextLogger: give it a logger that discards.
		logCtx: zerolog.New(io.Discard).WithContext(context.Background()),
	}, nil
}

// Upstream returns the address the proxy forwards to (past toxiproxy).
func (p *Proxy) Upstream() string { return p.upstream }

// Latency delays data by oneWay in each direction (toxiproxy "latency" toxics
// on the upstream and downstream streams), so a round trip takes at least
// 2*oneWay longer. It replaces any previous latency; 0 removes it. Toxiproxy
// works in whole milliseconds: a positive oneWay is rounded up to one.
//
// Toxiproxy v2.12.0 applies the toxic to existing connections as well as new
// ones, delays each chunk from the moment it was read (so latency does not
// add up across chunks), and when the toxic is removed it flushes the data it
// holds rather than dropping it.
func (p *Proxy) Latency(oneWay time.Duration) error {
	if oneWay < 0 {
		return fmt.Errorf("toxic: negative latency %v", oneWay)
	}
	if p.closed.Load() {
		return ErrClosed
	}
	p.toxMu.Lock()
	defer p.toxMu.Unlock()
	for _, name := range []string{latencyUp, latencyDown} {
		err := p.tp.Toxics.RemoveToxic(p.logCtx, name)
		if err != nil && !errors.Is(err, toxiproxy.ErrToxicNotFound) {
			return fmt.Errorf("toxic: remove %s: %w", name, err)
		}
	}
	if oneWay == 0 {
		return nil
	}
	ms := int64((oneWay + time.Millisecond - 1) / time.Millisecond)
	attrs := fmt.Sprintf(`{"latency":%d,"jitter":0}`, ms)
	if err := p.addToxic(latencyUp, "latency", "upstream", attrs); err != nil {
		return err
	}
	return p.addToxic(latencyDown, "latency", "downstream", attrs)
}

// Blackhole drops all data in both directions and keeps every connection
// open: a NAT or firewall that forgot the flow. It uses toxiproxy's "timeout"
// toxic with timeout 0 on both streams. Calling it again is a no-op.
//
// Behaviour checked against toxiproxy v2.12.0:
//   - it applies at once to existing connections and to new ones; a new
//     connection is still accepted (the TCP handshake is with the proxy);
//   - the client's writes succeed (the proxy reads and discards the bytes),
//     nothing comes back, and the connection is never closed: a read only
//     ends by the client's own deadline, never with EOF;
//   - dropped bytes are gone for good (unlike a real outage, where TCP would
//     retransmit them). So Clear does not revive a blackholed connection:
//     removing the toxic closes it (the client reads EOF), while connections
//     made after Clear work normally.
func (p *Proxy) Blackhole() error {
	if p.closed.Load() {
		return ErrClosed
	}
	p.toxMu.Lock()
	defer p.toxMu.Unlock()
	const attrs = `{"timeout":0}`
	if p.tp.Toxics.GetToxic(blackholeUp) == nil {
		if err := p.addToxic(blackholeUp, "timeout", "upstream", attrs); err != nil {
			return err
		}
	}
	if p.tp.Toxics.GetToxic(blackholeDown) == nil {
		return p.addToxic(blackholeDown, "timeout", "downstream", attrs)
	}
	return nil
}

// Clear removes all toxics (latency, blackhole). It does not bring the proxy
// Up. Connections that were blackholed are closed by toxiproxy when the
// blackhole is removed (see Blackhole); other connections carry on.
func (p *Proxy) Clear() error {
	if p.closed.Load() {
		return ErrClosed
	}
	p.toxMu.Lock()
	defer p.toxMu.Unlock()
	p.tp.Toxics.ResetToxics(p.logCtx)
	return nil
}

// Close stops the proxy and toxiproxy behind it, closes all connections and
// waits for the proxy's goroutines to end. Further calls return nil.
func (p *Proxy) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	err := p.Proxy.Close()
	p.tp.Stop()
	return err
}

func (p *Proxy) addToxic(name, typ, stream, attrs string) error {
	js := fmt.Sprintf(`{"name":%q,"type":%q,"stream":%q,"toxicity":1,"attributes":%s}`,
		name, typ, stream, attrs)
	if _, err := p.tp.Toxics.AddToxicJson(strings.NewReader(js)); err != nil {
		return fmt.Errorf("toxic: add %s toxic %s: %w", typ, name, err)
	}
	return nil
}
