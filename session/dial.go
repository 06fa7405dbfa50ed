package session

import (
	"net"
	"syscall"
	"time"
)

// Socket defaults of the dialer Connect uses when Config.Dial is nil. They
// are decided together with the idle probe (reconnect.DefaultIdleProbe, 5
// minutes) and the ack timeout; the package doc says what an idle client
// sends.
const (
	// DefaultKeepAlive is the TCP keepalive idle time and interval. Go's
	// dialer sends a keepalive every 15 s by default: on a phone each one
	// wakes the radio (which then stays in a high-power state for seconds),
	// and the idle probe already checks the whole stream (TLS, server
	// process, XMPP) every 5 minutes, as Conversations does (its longest
	// ping interval is 300 s). Ten minutes is longer than the idle probe,
	// so while the probe runs it resets the kernel's timer and no keepalive
	// is ever sent; it remains a backstop for a client with idle probes
	// off, and for a connection left open while the process is stopped
	// (the kernel still runs).
	DefaultKeepAlive = 10 * time.Minute
	// DefaultTCPUserTimeout bounds, on Linux, how long written data may
	// stay unacknowledged by the peer's TCP before the kernel fails the
	// connection (TCP_USER_TIMEOUT). Without it a black-holed connection
	// with data in flight is retransmitted for about 15 minutes. 30 s is
	// three ack timeouts: the session notices first (ErrAckTimeout, with
	// an event), and the kernel is the backstop for writes nothing waits
	// for, and for a process that is stopped.
	DefaultTCPUserTimeout = 30 * time.Second
)

// Dialer returns the dialer Connect uses when Config.Dial is nil: TCP
// keepalive after Config.KeepAlive of silence and, on Linux,
// TCP_USER_TIMEOUT set to Config.TCPUserTimeout (the defaults when zero,
// nothing when negative). Code that wraps the dial (package suspend's App,
// for one) can start from it to keep these settings.
func (c Config) Dialer() *net.Dialer {
	ka, ut := c.KeepAlive, c.TCPUserTimeout
	if ka == 0 {
		ka = DefaultKeepAlive
	}
	if ut == 0 {
		ut = DefaultTCPUserTimeout
	}
	d := &net.Dialer{}
	if ka < 0 {
		d.KeepAlive = -1
		d.KeepAliveConfig = net.KeepAliveConfig{Enable: false}
	} else {
		d.KeepAlive = ka
		d.KeepAliveConfig = net.KeepAliveConfig{Enable: true, Idle: ka, Interval: ka}
	}
	if ut > 0 {
		d.Control = func(network, address string, rc syscall.RawConn) error {
			return setUserTimeout(rc, ut)
		}
	}
	return d
}
