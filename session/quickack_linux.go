package session

import (
	"net"
	"syscall"
)

// quickAcker returns a function that puts the TCP connection under c in
// quick-ACK mode (TCP_QUICKACK), or nil when c exposes no socket
// (syscall.Conn): a pipe, or a wrapper that hides it.
//
// Why: after the TLS handshake the server writes its session tickets and
// then its stream features. With Nagle's algorithm on (Prosody's default)
// the features wait until the tickets are acknowledged, and Linux delays
// that ACK by about 40 ms: 42 ms of a 52 ms loopback login (BENCHMARKS.md).
// Quick-ACK mode acknowledges at once, but the kernel leaves it on its own,
// so the mode is re-armed after every read of the login (meteredConn).
func quickAcker(c net.Conn) func() {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return func() {
		_ = raw.Control(func(fd uintptr) {
			// An error (not TCP, or a closed socket) leaves the ACKs as
			// the kernel would send them: nothing to report.
			_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
		})
	}
}
