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
type meteredConn struct {
	net.Conn
	limit  int64
	budget atomic.Int64
	read   atomic.Int64
	wrote  atomic.Int64
}

func newMeteredConn(c net.Conn, limit int) *meteredConn {
	m := &meteredConn{Conn: c, limit: int64(limit)}
	m.budget.Store(m.limit)
	return m
}

// unlimit lifts the login's byte budget.
func (m *meteredConn) unlimit() { m.budget.Store(1 << 62) }

func (m *meteredConn) Read(p []byte) (int, error) {
	if m.budget.Load() <= 0 {
		return 0, ErrStanzaTooLarge
	}
	n, err := m.Conn.Read(p)
	m.budget.Add(-int64(n))
	m.read.Add(int64(n))
	return n, err
}

func (m *meteredConn) Write(p []byte) (int, error) {
	n, err := m.Conn.Write(p)
	m.wrote.Add(int64(n))
	return n, err
}
