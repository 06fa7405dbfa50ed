package bench_test

import (
	"context"
	"net"

	"github.com/xmppbg/xmppbg/internal/bench"
)

// hiddenSocket is a TCP connection whose socket the session cannot reach
// (no SyscallConn): the session then cannot put it in quick-ACK mode, and
// the login meets the ~40 ms delayed-ACK stall, as before the session did
// (the "stalled" columns of the recovery report).
type hiddenSocket struct{ net.Conn }

// stallDial wraps dial so that the session gets no socket to quick-ACK.
func stallDial(dial bench.DialFunc) bench.DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return hiddenSocket{c}, nil
	}
}
