package session

import (
	"net"
	"sync/atomic"
)

// meteredConn wraps the TCP connection under TLS. It bounds how many bytes
// one incoming element may take (a hostile server cannot make the client
// buffer an endless stanza) and counts the bytes read and written.
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

// reset starts a new element's byte budget.
func (m *meteredConn) reset() { m.budget.Store(m.limit) }

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
