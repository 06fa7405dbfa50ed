package faultproxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// ErrClosed is returned by the methods of a Proxy after Close.
var ErrClosed = errors.New("faultproxy: proxy closed")

// dialTimeout bounds the dial to the upstream for one accepted client.
const dialTimeout = 5 * time.Second

// Proxy forwards 127.0.0.1:random to an upstream address and can break the
// path.
//
// All methods are safe for concurrent use. Faults apply to the connections
// that exist when the method is called.
type Proxy struct {
	addr     string // front address clients dial; fixed for the proxy's life
	upstream string
	accepted atomic.Int64

	mu     sync.Mutex
	ln     net.Listener // nil while Down
	links  map[*link]struct{}
	closed bool
	wg     sync.WaitGroup // accept loops and connection handlers
}

// link is one client connection and its leg to the upstream.
type link struct {
	client net.Conn
	mid    net.Conn // to the upstream
	once   sync.Once
	// holed is set by BlackholeLive: from then on the bytes read on either
	// leg are dropped, never forwarded.
	holed atomic.Bool
}

// pipe copies src to dst until src ends or a write fails, like io.Copy,
// except that once the link is black-holed what is read is dropped. It
// returns nil when src ended with EOF.
func (l *link) pipe(dst io.Writer, src io.Reader) error {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !l.holed.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	p := &Proxy{
		addr:     ln.Addr().String(),
		upstream: upstream,
		ln:       ln,
		links:    make(map[*link]struct{}),
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

// ResetPeer tears every connection that exists now: the client receives a TCP
// RST (its next read or write fails with ECONNRESET) and the upstream sees its
// connection closed. It is a one-shot event: connections made afterwards work
// normally, there is nothing for Clear to remove.
//
// Toxiproxy's "reset_peer" toxic cannot stand in for this: in v2.12.0 it
// does nothing to an idle connection (it fires only when the next chunk of
// data flows), closes an existing connection with a plain FIN rather than a
// RST, and stays installed, resetting every later connection at its first
// byte, which defeats a reconnect.
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

// BlackholeLive silently drops everything on the connections that exist
// now, in both directions, and keeps them open: a NAT or a carrier that lost
// the flow's mapping. The client's writes succeed and nothing comes back,
// the server sees the same silence, and neither end is closed by the proxy
// (a FIN from one end is dropped too). Connections made afterwards pass
// normally, so a client that notices and dials again gets through. Like
// ResetPeer it is a one-shot event: nothing stays installed.
//
// Unlike a real black hole, the proxy's kernel acknowledges the client's
// bytes at the TCP level, so TCP_USER_TIMEOUT on the client cannot fire
// through it: only the application (an unanswered <r/> or probe) notices.
// Package internal/netlab makes the kernel-level black hole.
func (p *Proxy) BlackholeLive() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	for l := range p.links {
		l.holed.Store(true)
	}
	return nil
}

// Down makes the server unreachable: the listener is closed, so new dials to
// Addr are refused (ECONNREFUSED), and existing connections are closed (the
// client reads EOF, the upstream sees its connection closed). Calling it while
// down is a no-op.
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

// Conns returns the number of client connections accepted so far, across
// Down and Up: every dial that reached the proxy, whether or not the upstream
// could then be reached. Dials refused while Down are not counted. The count
// is taken when the proxy accepts, which can be just after the client's Dial
// returns.
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
	p.wg.Wait()
	return err
}

func (p *Proxy) snapshotLocked() []*link {
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	return links
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

// handle joins one accepted client to a new connection to the upstream.
func (p *Proxy) handle(ln net.Listener, client net.Conn) {
	defer p.wg.Done()
	mid, err := net.DialTimeout("tcp", p.upstream, dialTimeout)
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
		err := l.pipe(mid, client)
		switch {
		case l.holed.Load():
			// Black-holed: the client's FIN or RST is lost on the way,
			// the server is not told. Only the client's leg ends.
			_ = l.client.Close()
		case err == nil:
			// The client half-closed: pass the FIN on and let the server
			// answer the close.
			if cw, ok := mid.(interface{ CloseWrite() error }); ok {
				_ = cw.CloseWrite()
				return
			}
			l.kill(false)
		default:
			l.kill(false)
		}
	}()
	// Once nothing more can come from the upstream, close both legs: an
	// XMPP server closes its side fully, and so does toxiproxy when
	// package toxic puts one behind this proxy. On a black-holed link the
	// server's close is lost: the client's leg stays open, silent, until
	// the client closes it (or Close).
	_ = l.pipe(client, mid)
	if l.holed.Load() {
		_ = l.mid.Close()
	} else {
		l.kill(false)
	}
	<-upDone
	l.kill(false)

	p.mu.Lock()
	delete(p.links, l)
	p.mu.Unlock()
}
