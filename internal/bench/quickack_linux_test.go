package bench_test

import (
	"context"
	"net"
	"syscall"

	"github.com/xmppbg/xmppbg/internal/bench"
)

// quickAckSupported: TCP_QUICKACK is a Linux socket option.
const quickAckSupported = true

// quickAckConn re-arms TCP_QUICKACK after every read, so that the kernel
// acknowledges what the server sends at once instead of delaying the ACK
// (Linux only; an experiment, see the recovery report).
type quickAckConn struct {
	*net.TCPConn
	raw syscall.RawConn
}

func (c *quickAckConn) Read(p []byte) (int, error) {
	n, err := c.TCPConn.Read(p)
	c.arm()
	return n, err
}

func (c *quickAckConn) arm() {
	_ = c.raw.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
}

// quickAckDial wraps dial so that its TCP connections quick-ACK.
func quickAckDial(dial bench.DialFunc) bench.DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		tc, ok := c.(*net.TCPConn)
		if !ok {
			return c, nil
		}
		raw, err := tc.SyscallConn()
		if err != nil {
			return c, nil
		}
		q := &quickAckConn{TCPConn: tc, raw: raw}
		q.arm()
		return q, nil
	}
}
