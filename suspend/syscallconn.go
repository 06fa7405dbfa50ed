package suspend

import (
	"errors"
	"syscall"
)

// errNoSocket is SyscallConn's error when the wrapped connection has no
// socket (a pipe).
var errNoSocket = errors.New("suspend: the wrapped connection has no socket")

// SyscallConn returns the wrapped connection's socket, for socket options
// only (package session keeps a login's ACKs quick with TCP_QUICKACK). I/O
// must still go through the Conn, or freezes and faults would miss it.
func (c *Conn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		return nil, errNoSocket
	}
	return sc.SyscallConn()
}
