package bench

import (
	"context"
	"errors"
	"net"
	"sync"
	"syscall"
	"time"
)

// Turn is one round trip seen on the wire: what the client wrote before it
// waited, and what it read before it wrote again.
type Turn struct {
	// At is when the answer's first bytes were read, since the dial began.
	At time.Duration
	// Out is how many bytes the client wrote before waiting.
	Out int
	// In is how many bytes it read before writing again.
	In int
}

// WireMeter wraps one client connection and counts round trips (see the
// package documentation). Its methods are safe for concurrent use.
type WireMeter struct {
	net.Conn
	start time.Time

	mu       sync.Mutex
	wrote    bool // written since the last read that returned data
	out, in  int  // bytes of the current turn
	turns    []Turn
	bytesIn  int64
	bytesOut int64
}

// NewWireMeter wraps c; start is when its dial began.
func NewWireMeter(c net.Conn, start time.Time) *WireMeter {
	return &WireMeter{Conn: c, start: start}
}

// Read reads from the connection and counts a round trip when data comes in
// after the client has written.
func (m *WireMeter) Read(p []byte) (int, error) {
	n, err := m.Conn.Read(p)
	if n > 0 {
		now := time.Now()
		m.mu.Lock()
		m.bytesIn += int64(n)
		if m.wrote {
			m.wrote = false
			m.turns = append(m.turns, Turn{At: now.Sub(m.start), Out: m.out})
			m.out = 0
		}
		if k := len(m.turns); k > 0 {
			m.turns[k-1].In += n
		}
		m.mu.Unlock()
	}
	return n, err
}

// Write writes to the connection and notes that the client has spoken.
func (m *WireMeter) Write(p []byte) (int, error) {
	n, err := m.Conn.Write(p)
	if n > 0 {
		m.mu.Lock()
		m.bytesOut += int64(n)
		m.wrote = true
		m.out += n
		m.mu.Unlock()
	}
	return n, err
}

// SyscallConn returns the socket under the meter, so that the session
// still sets its socket options (TCP_QUICKACK during the login) through it.
func (m *WireMeter) SyscallConn() (syscall.RawConn, error) {
	sc, ok := m.Conn.(syscall.Conn)
	if !ok {
		return nil, errNoSocket
	}
	return sc.SyscallConn()
}

var errNoSocket = errors.New("bench: the metered connection has no socket")

// RoundTrips returns how many round trips have been counted so far (the TCP
// handshake not included).
func (m *WireMeter) RoundTrips() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.turns)
}

// Turns returns a copy of the round trips counted so far.
func (m *WireMeter) Turns() []Turn {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Turn(nil), m.turns...)
}

// Bytes returns the bytes read and written so far.
func (m *WireMeter) Bytes() (in, out int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.bytesIn, m.bytesOut
}

// DialFunc dials a connection, as net.Dialer.DialContext does.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// MeteredDialer dials TCP connections wrapped in a WireMeter and remembers
// the last one, so that a benchmark can read the round trips of the login it
// just made.
type MeteredDialer struct {
	// Wrap, when set, wraps the TCP dialer (below the meter).
	Wrap func(DialFunc) DialFunc

	mu   sync.Mutex
	last *WireMeter
	// DialDur is how long the TCP handshake of the last dial took.
	dialDur time.Duration
}

// Dial is a session.Config.Dial.
func (d *MeteredDialer) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	start := time.Now()
	var nd net.Dialer
	dial := DialFunc(nd.DialContext)
	if d.Wrap != nil {
		dial = d.Wrap(dial)
	}
	c, err := dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	m := NewWireMeter(c, start)
	d.mu.Lock()
	d.last, d.dialDur = m, time.Since(start)
	d.mu.Unlock()
	return m, nil
}

// Last returns the last connection dialed and how long its dial took.
func (d *MeteredDialer) Last() (*WireMeter, time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.last, d.dialDur
}
