package session

import (
	"net"
	"sync/atomic"
)

// meteredConn wraps the TCP connection under TLS. It counts the bytes read
// and written, and bounds what the whole login may read (before STARTTLS no
// guard lexes the stream: a hostile server must not make the client buffer
// endless features). Once the session is up, the guard (guard.go) bounds
// each element instead, and a large element is skipped, not a connection
// fault.
//
// During the login it also keeps the socket in quick-ACK mode (Linux's
// TCP_QUICKACK, re-armed after every read; see quickAcker), so that a
// server with Nagle's algorithm on is not held ~40 ms by a delayed ACK. After
// the login the kernel's delayed ACKs are left alone: they save packets, and
// nothing waits on them the same way.
type meteredConn struct {
	net.Conn
	limit  int64
	budget atomic.Int64
	read   atomic.Int64
	wrote  atomic.Int64
	// quickAck re-arms quick-ACK mode; nil where there is none. loggedIn
	// turns it off.
	quickAck func()
	loggedIn atomic.Bool
}

func newMeteredConn(c net.Conn, limit int) *meteredConn {
	m := &meteredConn{Conn: c, limit: int64(limit), quickAck: quickAcker(c)}
	m.budget.Store(m.limit)
	if m.quickAck != nil {
		m.quickAck()
	}
	return m
}

// unlimit lifts the login's byte budget, and ends its quick ACKs.
func (m *meteredConn) unlimit() {
	m.budget.Store(1 << 62)
	m.loggedIn.Store(true)
}

func (m *meteredConn) Read(p []byte) (int, error) {
	if m.budget.Load() <= 0 {
		return 0, ErrStanzaTooLarge
	}
	n, err := m.Conn.Read(p)
	m.budget.Add(-int64(n))
	m.read.Add(int64(n))
	if m.quickAck != nil && n > 0 && !m.loggedIn.Load() {
		m.quickAck()
	}
	return n, err
}

func (m *meteredConn) Write(p []byte) (int, error) {
	n, err := m.Conn.Write(p)
	m.wrote.Add(int64(n))
	return n, err
}
