package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// ErrClosed is returned by the methods of a Proxy after Close.
var ErrClosed = errors.New("faultproxy: proxy closed")

// Toxic names, one per direction. Upstream is client → server, downstream is
// server → client.
const (
	latencyUp     = "latency_upstream"
	latencyDown   = "latency_downstream"
	blackholeUp   = "blackhole_upstream"
	blackholeDown = "blackhole_downstream"
)

// Proxy forwards 127.0.0.1:random to an upstream address and can break the path.
//
// All methods are safe for concurrent use. Faults apply to the connections
// that exist when the method is called and, for the toxics (Latency,
// Blackhole), also to every connection accepted later, until Clear.
type Proxy struct {
	addr     string // front address clients dial; fixed for the proxy's life
	upstream string
	tp       *toxiproxy.Proxy
	tpAddr   string          // toxiproxy's own listen address
	logCtx   context.Context // carries a discarding zerolog logger
	accepted atomic.Int64

	toxMu sync.Mutex // serialises toxic changes (remove + add must be atomic)

	mu     sync.Mutex
	ln     net.Listener // nil while Down
	links  map[*link]struct{}
	closed bool
	wg     sync.WaitGroup // accept loops and connection handlers
}

// link is one client connection and its leg to toxiproxy.
type link struct {
	client net.Conn
	mid    net.Conn
	once   sync.Once
}

// kill closes both legs; with rst the client leg is closed with SO_LINGER 0,
// which makes the kernel send a RST instead of a FIN.
func (l *link) kill(rst bool) {
	l.once.Do(func() {
		if tc, ok := l.client.(*net.TCPConn); ok && rst {
			_ = tc.SetLinger(0)
		}
		_ = l.client.Close()
		_ = l.mid.Close()
	})
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
	tp := toxiproxy.NewProxy(server, "faultproxy", "127.0.0.1:0", upstream)
	if err := tp.Start(); err != nil {
		return nil, fmt.Errorf("faultproxy: start toxiproxy: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tp.Stop()
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	p := &Proxy{
		addr:     ln.Addr().String(),
		upstream: upstream,
		tp:       tp,
		tpAddr:   tp.Listen, // set to the bound address by tp.Start
		// Removing toxics logs through zerolog.Ctx(ctx), which falls back to
		// zerolog.DefaultContextLogger: give it a logger that discards.
		logCtx: zerolog.New(io.Discard).WithContext(context.Background()),
		ln:     ln,
		links:  make(map[*link]struct{}),
	}
	p.wg.Add(1)
	go p.serve(ln)
	return p, nil
}

// Addr returns the address clients connect to ("127.0.0.1:port"). It does not
// change across Down and Up.
func (p *Proxy) Addr() string { return p.addr }

// Upstream returns the address the proxy forwards to.
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
		return fmt.Errorf("faultproxy: negative latency %v", oneWay)
	}
	if err := p.checkOpen(); err != nil {
		return err
	}
	p.toxMu.Lock()
	defer p.toxMu.Unlock()
	for _, name := range []string{latencyUp, latencyDown} {
		err := p.tp.Toxics.RemoveToxic(p.logCtx, name)
		if err != nil && !errors.Is(err, toxiproxy.ErrToxicNotFound) {
			return fmt.Errorf("faultproxy: remove %s: %w", name, err)
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
	if err := p.checkOpen(); err != nil {
		return err
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

// ResetPeer tears every connection that exists now: the client receives a TCP
// RST (its next read or write fails with ECONNRESET) and the upstream sees its
// connection closed. It is a one-shot event: connections made afterwards work
// normally, there is nothing for Clear to remove.
//
// This is plain net code, not toxiproxy's "reset_peer" toxic, because in
// v2.12.0 that toxic does not tear existing connections:
//   - it does nothing to an idle connection; it fires only when the next chunk
//     of data flows in the toxic's direction;
//   - it sets SO_LINGER 0 (the RST) only on connections accepted while the
//     toxic is already installed; on an existing connection it closes with a
//     plain FIN, so the client reads EOF, not a reset;
//   - it stays installed, so every later connection would be reset at its
//     first byte until it is removed, which defeats a reconnect.
func (p *Proxy) ResetPeer() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	links := p.snapshotLocked()
	p.mu.Unlock()
	for _, l := range links {
		l.kill(true)
	}
	return nil
}

// Down makes the server unreachable: the listener is closed, so new dials to
// Addr are refused (ECONNREFUSED), and existing connections are closed (the
// client reads EOF, the upstream sees its connection closed). Calling it while
// down is a no-op. Toxics stay installed.
//
// Toxiproxy's own Stop/Start would do the same (v2.12.0 closes the listener
// and all connections with a FIN, and Start binds the same port again), but
// the client-facing listener here is this package's (see the package
// comment), so Down and Up close and reopen that one.
func (p *Proxy) Down() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	if p.ln == nil {
		p.mu.Unlock()
		return nil
	}
	err := p.ln.Close()
	p.ln = nil
	links := p.snapshotLocked()
	p.mu.Unlock()
	for _, l := range links {
		l.kill(false)
	}
	if err != nil {
		return fmt.Errorf("faultproxy: close listener: %w", err)
	}
	return nil
}

// Up accepts connections again on the same address and port as before Down.
// Calling it while up is a no-op. It fails if another process took the port
// in the meantime (Go sets SO_REUSEADDR, so connections of the previous
// listener in TIME_WAIT do not block it).
func (p *Proxy) Up() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if p.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return fmt.Errorf("faultproxy: listen again on %s: %w", p.addr, err)
	}
	p.ln = ln
	p.wg.Add(1)
	go p.serve(ln)
	return nil
}

// Clear removes all toxics (latency, blackhole). It does not bring the proxy
// Up. Connections that were blackholed are closed by toxiproxy when the
// blackhole is removed (see Blackhole); other connections carry on.
func (p *Proxy) Clear() error {
	if err := p.checkOpen(); err != nil {
		return err
	}
	p.toxMu.Lock()
	defer p.toxMu.Unlock()
	p.tp.Toxics.ResetToxics(p.logCtx)
	return nil
}

// Conns returns the number of client connections accepted so far, across
// Down and Up: every dial that reached the proxy, whether or not the upstream
// could then be reached. Dials refused while Down are not counted. The count
// is taken when the proxy accepts, which can be just after the client's Dial
// returns. Toxiproxy v2.12.0 exposes no such count (its connection list is
// private and its metrics count bytes only), so the front counts.
func (p *Proxy) Conns() int { return int(p.accepted.Load()) }

// Close stops the proxy, closes all connections and waits for the proxy's
// goroutines to end. Further calls return nil.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	var err error
	if p.ln != nil {
		err = p.ln.Close()
		p.ln = nil
	}
	links := p.snapshotLocked()
	p.mu.Unlock()
	for _, l := range links {
		l.kill(false)
	}
	p.tp.Stop()
	p.wg.Wait()
	return err
}

func (p *Proxy) checkOpen() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	return nil
}

func (p *Proxy) snapshotLocked() []*link {
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	return links
}

func (p *Proxy) addToxic(name, typ, stream, attrs string) error {
	js := fmt.Sprintf(`{"name":%q,"type":%q,"stream":%q,"toxicity":1,"attributes":%s}`,
		name, typ, stream, attrs)
	if _, err := p.tp.Toxics.AddToxicJson(strings.NewReader(js)); err != nil {
		return fmt.Errorf("faultproxy: add %s toxic %s: %w", typ, name, err)
	}
	return nil
}

// serve accepts on ln until it is closed.
func (p *Proxy) serve(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Transient (e.g. EMFILE, ECONNABORTED): back off briefly.
			time.Sleep(5 * time.Millisecond)
			continue
		}
		p.accepted.Add(1)
		p.wg.Add(1)
		go p.handle(ln, c)
	}
}

// handle joins one accepted client to a new connection to toxiproxy.
func (p *Proxy) handle(ln net.Listener, client net.Conn) {
	defer p.wg.Done()
	mid, err := net.DialTimeout("tcp", p.tpAddr, 5*time.Second)
	if err != nil {
		_ = client.Close()
		return
	}
	l := &link{client: client, mid: mid}

	p.mu.Lock()
	if p.closed || p.ln != ln {
		// Down, Up or Close happened while this connection was being set up:
		// it belongs to a listener that no longer exists.
		p.mu.Unlock()
		l.kill(false)
		return
	}
	p.links[l] = struct{}{}
	p.mu.Unlock()

	upDone := make(chan struct{})
	go func() {
		defer close(upDone)
		if _, err := io.Copy(mid, client); err == nil {
			// The client half-closed: pass the FIN on and let the server
			// answer the close through toxiproxy.
			if cw, ok := mid.(interface{ CloseWrite() error }); ok {
				_ = cw.CloseWrite()
				return
			}
		}
		l.kill(false)
	}()
	// Toxiproxy only ever closes its side fully, so once nothing more can come
	// from it, close both legs.
	_, _ = io.Copy(client, mid)
	l.kill(false)
	<-upDone

	p.mu.Lock()
	delete(p.links, l)
	p.mu.Unlock()
}
